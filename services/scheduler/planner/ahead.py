"""Planning ahead: tomorrow's and today's occurrences, one INSERT ... SELECT per group.

Patients sharing a time zone and times form a group; there are few such groups even for a
national programme, so the work is a few hundred statements, never one per patient, and
memory stays flat. The unique key (patient, kind, local date, slot) makes planning
idempotent and safe in any number of replicas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import msgspec
from sqlalchemy import Select, String, and_, func, literal, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite

from services.scheduler.clinic_calendar import dose_plan, special_days
from services.scheduler.models import Occurrence, Patient, TrackVersion
from services.scheduler.risk_models import ClinicDay
from services.scheduler.settings import SchedulerSettings
from services.scheduler.timeplan import local_instant, local_today, reminder_time
from shared.db import Database
from shared.messages import CurriculumPublished


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
    on a clinic's special day, dose reminders follow its calendar (clinic_calendar.py)."""
    planned = 0
    dose_window = timedelta(minutes=settings.dose_window_minutes)
    special = await special_days(db, now, days)
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
        for offset in range(days):
            day = first + timedelta(days=offset)
            who = _active(patient_ids, clinic_ids).where(
                Patient.time_zone == zone,
                Patient.dose_time == dose_time,
                Patient.quiet_start == quiet_start,
                Patient.quiet_end == quiet_end,
            )
            on_day = special.get(day, {})
            # Patients of clinics with a special day that day are planned by its calendar.
            who_else = who.where(Patient.clinic_id.not_in(list(on_day))) if on_day else who
            for clinic_id, calendar_day in [(None, None), *on_day.items()]:
                plan = dose_plan(day, dose_time, zone, quiet_start, quiet_end, calendar_day)
                # The window runs from the time the patient chose (or the opening it moved
                # to), not from a time quiet hours moved it to: never hours late.
                expires = plan.expires(dose_window)
                if expires <= now or (plan.state == "planned" and plan.due >= expires):
                    continue  # its window has passed: nothing to plan, nothing to send late
                group = who_else if clinic_id is None else who.where(Patient.clinic_id == clinic_id)
                planned += await _plan_group(
                    db, "dose", "dose", plan.due, expires, day, group, plan.state, plan.reason
                )
    planned += await _plan_lessons(db, settings, now, days, patient_ids, clinic_ids, special)
    return planned


async def _plan_lessons(
    db: Database,
    settings: SchedulerSettings,
    now: datetime,
    days: int,
    patient_ids: Sequence[int] | None,
    clinic_ids: Sequence[int] | None,
    special: dict[date, dict[int, ClinicDay]],
) -> int:
    tracks = await published_tracks(db)
    if not tracks:
        return 0
    window = timedelta(minutes=settings.lesson_window_minutes)
    # The control arm gets routine care only: no lesson pushes.
    learners = _active(patient_ids, clinic_ids).where(
        Patient.track.is_not(None), or_(Patient.study_arm.is_(None), Patient.study_arm != "control")
    )
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
            away = [c for c, entry in special.get(day, {}).items() if entry.skip_lessons]
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
