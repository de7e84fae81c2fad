"""Planning ahead: tomorrow's and today's occurrences, one INSERT ... SELECT per group.

Patients sharing a time zone and times form a group; there are few such groups even for a
national programme, so the work is a few hundred statements, never one per patient, and
memory stays flat. The unique key (patient, kind, local date, slot) makes planning
idempotent and safe in any number of replicas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import msgspec
from sqlalchemy import Select, String, and_, func, literal, select, true
from sqlalchemy.dialects import postgresql, sqlite

from services.scheduler.clinic_calendar import Calendars, DosePlan, Hours, dose_plan, load_calendars
from services.scheduler.models import Occurrence, Patient, TrackVersion
from services.scheduler.settings import SchedulerSettings
from services.scheduler.studies.policy import Push, legacy_control, withheld
from services.scheduler.timeplan import local_instant, local_today, reminder_time
from shared.db import Database
from shared.messages import CurriculumPublished

NOTICE = "closure_notice"  # the message kind of a take-home notice


@dataclass(frozen=True)
class Track:
    code: str
    weekdays: tuple[int, ...]
    local_time: time


async def published_tracks(db: Database) -> dict[str, CurriculumPublished]:
    """The newest published version of each track, from the read model."""
    latest = (
        select(TrackVersion.track, func.max(TrackVersion.version).label("version"))
        .group_by(TrackVersion.track)
        .subquery()
    )
    async with db.sessions() as session:
        rows = (
            (
                await session.execute(
                    select(TrackVersion.event).join(
                        latest,
                        and_(
                            TrackVersion.track == latest.c.track,
                            TrackVersion.version == latest.c.version,
                        ),
                    )
                )
            )
            .scalars()
            .all()
        )
    events = [msgspec.json.decode(row, type=CurriculumPublished) for row in rows]
    return {event.track: event for event in events}


def _insert(db: Database) -> Any:
    return sqlite.insert if db.is_sqlite else postgresql.insert


# A take-home notice goes with dose reminders: an arm without online pushes hears of a
# closure at the clinic, as routine care does.
_PUSH_OF_KIND: dict[str, Push] = {
    "dose": "dose_reminders",
    NOTICE: "dose_reminders",
    "lesson": "lessons",
}


async def _plan_group(
    db: Database,
    kind: str,
    slot: str,
    due: datetime,
    expires: datetime,
    local_date: Any,
    who: Select[Any],
    state: str = "planned",
    reason: str | None = None,
) -> int:
    push = _PUSH_OF_KIND.get(kind)
    if push is not None:  # what a patient's study arm does not receive is not planned
        who = who.where(~withheld(push))
    statement = (
        _insert(db)(Occurrence)
        .from_select(
            [
                "patient_id",
                "kind",
                "local_date",
                "slot",
                "due_at",
                "expires_at",
                "state",
                "reason",
            ],
            who.with_only_columns(
                Patient.id,
                literal(kind),
                literal(local_date),
                literal(slot),
                literal(due),
                literal(expires),
                literal(state),
                literal(reason, String()),
            ),
        )
        .on_conflict_do_nothing(index_elements=["patient_id", "kind", "local_date", "slot"])
    )
    async with db.transaction() as session:
        result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


def _active(
    patient_ids: Sequence[int] | None = None, clinic_ids: Sequence[int] | None = None
) -> Select[Any]:
    query = select(Patient.id).where(Patient.state == "active", Patient.opted_out_at.is_(None))
    if patient_ids is not None:  # planning a few patients now (enrolled, changed, resumed)
        query = query.where(Patient.id.in_(patient_ids))
    if clinic_ids is not None:  # re-planning a clinic whose calendar changed
        query = query.where(Patient.clinic_id.in_(clinic_ids))
    return query


async def plan_ahead(
    db: Database,
    settings: SchedulerSettings,
    now: datetime,
    days: int = 2,
    patient_ids: Sequence[int] | None = None,
    clinic_ids: Sequence[int] | None = None,
) -> int:
    """Plan dose reminders and lessons for each patient's local today and the next day(s);
    dose reminders follow their clinic's calendar (clinic_calendar.py), and a clinic that
    gives take-home doses has its patients told the day before it is closed."""
    planned = 0
    window = timedelta(minutes=settings.dose_window_minutes)
    calendars = await load_calendars(db, now, days)
    async with db.sessions() as session:
        groups = (
            await session.execute(
                _active(patient_ids, clinic_ids)
                .with_only_columns(
                    Patient.time_zone, Patient.dose_time, Patient.quiet_start, Patient.quiet_end
                )
                .distinct()
            )
        ).all()
    for zone, dose_time, quiet_start, quiet_end in groups:
        first = local_today(now, zone)
        who = _active(patient_ids, clinic_ids).where(
            Patient.time_zone == zone,
            Patient.dose_time == dose_time,
            Patient.quiet_start == quiet_start,
            Patient.quiet_end == quiet_end,
        )

        def plan(day: date, hours: Hours) -> DosePlan:
            return dose_plan(day, dose_time, zone, quiet_start, quiet_end, hours)  # noqa: B023

        for offset in range(days):
            day = first + timedelta(days=offset)
            # Clinics whose hours change the plan are planned apart, a statement per
            # distinct plan (not per clinic); everyone else in one.
            default = plan(day, None)
            apart: dict[DosePlan, list[int]] = {}
            for hours, clinics in calendars.clinics_by_hours(day).items():
                made = plan(day, hours)
                if made != default:
                    apart.setdefault(made, []).extend(clinics)
            for made, group in _split(who, default, apart):
                # The window runs from the time the patient chose (or the opening it moved
                # to), not from a time quiet hours moved it to: never hours late.
                expires = made.expires(window)
                if expires > now and (made.state != "planned" or made.due < expires):
                    planned += await _plan_group(
                        db, "dose", "dose", made.due, expires, day, group, made.state, made.reason
                    )
            planned += await _plan_notices(db, calendars, day, plan, who, window, now)
    planned += await _plan_lessons(db, settings, now, days, patient_ids, clinic_ids, calendars)
    return planned


def _split(
    who: Select[Any], default: DosePlan, apart: dict[DosePlan, list[int]]
) -> list[tuple[DosePlan, Select[Any]]]:
    others = [clinic for clinics in apart.values() for clinic in clinics]
    rest = who.where(Patient.clinic_id.not_in(others)) if others else who
    return [(default, rest)] + [
        (made, who.where(Patient.clinic_id.in_(clinics))) for made, clinics in apart.items()
    ]


async def _plan_notices(
    db: Database,
    calendars: Calendars,
    day: date,
    plan: Callable[[date, Hours], DosePlan],
    who: Select[Any],
    window: timedelta,
    now: datetime,
) -> int:
    """The day before a closed day of a clinic that gives take-home doses: a notice at the
    patient's dose-reminder time of that day (at their usual time if it is closed too).
    The slot names the closed day: one notice per patient per closed day, however often
    the day is planned."""
    closed = day + timedelta(days=1)
    clinics = calendars.closed_with_take_home(closed)
    if not clinics:
        return 0
    by_plan: dict[DosePlan, list[int]] = {}
    for clinic in clinics:
        hours = calendars.hours(clinic, day)
        by_plan.setdefault(plan(day, hours or None), []).append(clinic)
    planned = 0
    slot = f"{NOTICE}:{closed.isoformat()}"
    for made, group in by_plan.items():
        expires = made.expires(window)
        if expires > now and made.due < expires:
            targets = who.where(Patient.clinic_id.in_(group))
            planned += await _plan_group(db, NOTICE, slot, made.due, expires, day, targets)
    return planned


async def _plan_lessons(
    db: Database,
    settings: SchedulerSettings,
    now: datetime,
    days: int,
    patient_ids: Sequence[int] | None,
    clinic_ids: Sequence[int] | None,
    calendars: Calendars,
) -> int:
    tracks = await published_tracks(db)
    if not tracks:
        return 0
    window = timedelta(minutes=settings.lesson_window_minutes)
    # A study arm decides what its participants get (_plan_group); a legacy "control"
    # label still means no lessons for a patient in no study.
    learners = _active(patient_ids, clinic_ids).where(Patient.track.is_not(None), ~legacy_control())
    async with db.sessions() as session:
        groups = (
            await session.execute(
                learners.with_only_columns(
                    Patient.time_zone,
                    Patient.track,
                    Patient.lesson_weekdays,
                    Patient.lesson_time,
                    Patient.quiet_start,
                    Patient.quiet_end,
                ).distinct()
            )
        ).all()
    planned = 0
    for zone, track_code, weekdays, lesson_time, quiet_start, quiet_end in groups:
        track = tracks.get(track_code) if track_code else None
        if track is None:
            continue  # not published yet: planned once it is
        days_of_week = (
            {int(d) for d in weekdays.split(",")} if weekdays else set(track.cadence.weekdays)
        )
        at = lesson_time or time.fromisoformat(track.cadence.local_time)
        first = local_today(now, zone)
        for offset in range(days):
            day = first + timedelta(days=offset)
            if day.isoweekday() not in days_of_week:
                continue
            due = reminder_time(day, at, zone, quiet_start, quiet_end)
            expires = local_instant(day, at, zone) + window
            if expires <= now or due >= expires:
                continue
            # A clinic closed that day may keep lessons away too, if it said so.
            on_day = calendars.special.get(day, {})
            away = [c for c, entry in on_day.items() if entry.skip_lessons]
            who = learners.where(
                Patient.clinic_id.not_in(away) if away else true(),
                Patient.time_zone == zone,
                Patient.track == track_code,
                Patient.lesson_weekdays.is_(None)
                if weekdays is None
                else Patient.lesson_weekdays == weekdays,
                Patient.lesson_time.is_(None)
                if lesson_time is None
                else Patient.lesson_time == lesson_time,
                Patient.quiet_start == quiet_start,
                Patient.quiet_end == quiet_end,
            )
            planned += await _plan_group(db, "lesson", "lesson", due, expires, day, who)
    return planned
