"""The planner: reminder plans live in SQL, and every step works on sets of patients.

- `plan_ahead` writes tomorrow's and today's occurrences (dose reminders, lessons by the
  track cadence) with INSERT ... SELECT per group of patients sharing a time zone and
  times. There are few such groups even for a national programme, so the work is a few
  hundred statements, never one per patient, and memory stays flat. The unique key
  (patient, kind, local date, slot) makes planning idempotent and safe in any number of
  replicas.
- `release_due` claims due occurrences with FOR UPDATE SKIP LOCKED (replicas share the
  work without duplicates), applies the rules, and writes one message row per occurrence,
  in one transaction; the SendMessage commands follow straight after the commit (or go in
  the outbox when no publisher is given).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

import msgspec
from redis.exceptions import RedisError
from sqlalchemy import (
    Select,
    Table,
    and_,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from services.scheduler.events import updated_event
from services.scheduler.models import Dose, Message, Occurrence, Outbox, Patient, TrackVersion
from services.scheduler.settings import SchedulerSettings
from services.scheduler.timeplan import local_instant, local_today, reminder_time
from shared.bulk import BulkWrite, one_of
from shared.bus import add_to_outbox
from shared.bus.codec import encode_payload
from shared.db import Database
from shared.logging import get_logger
from shared.messages import CurriculumPublished, SendMessage

FINAL_WITHOUT_SENDING = ("suppressed", "expired", "opted_out", "skipped")

# Puts commands on the bus now (shared.bus.Publisher.publish).
Publish = Callable[[Sequence[SendMessage]], Awaitable[None]]

log = get_logger(__name__)

MESSAGES: Table = Message.__table__  # type: ignore[assignment]
OUTBOX: Table = Outbox.__table__  # type: ignore[assignment]
_OCCURRENCES: Table = Occurrence.__table__  # type: ignore[assignment]
# Each one statement per batch on PostgreSQL (shared/bulk.py).
_NEW_MESSAGES = BulkWrite(
    MESSAGES,
    (
        "id",
        "occurrence_id",
        "patient_id",
        "clinic_id",
        "kind",
        "local_date",
        "state",
        "reason",
        "attempts",
        "expires_at",
        "created_at",
        "updated_at",
    ),
)
_SET_STATE = BulkWrite(_OCCURRENCES, ("state", "reason"), key="id", key_param="occurrence")


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
) -> int:
    statement = (
        _insert(db)(Occurrence)
        .from_select(
            ["patient_id", "kind", "local_date", "slot", "due_at", "expires_at", "state"],
            who.with_only_columns(
                Patient.id,
                literal(kind),
                literal(local_date),
                literal(slot),
                literal(due),
                literal(expires),
                literal("planned"),
            ),
        )
        .on_conflict_do_nothing(index_elements=["patient_id", "kind", "local_date", "slot"])
    )
    async with db.transaction() as session:
        result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


def _active(patient_ids: Sequence[int] | None = None) -> Select[Any]:
    query = select(Patient.id).where(Patient.state == "active", Patient.opted_out_at.is_(None))
    if patient_ids is not None:  # planning a few patients now (enrolled, changed, resumed)
        query = query.where(Patient.id.in_(patient_ids))
    return query


async def plan_ahead(
    db: Database,
    settings: SchedulerSettings,
    now: datetime,
    days: int = 2,
    patient_ids: Sequence[int] | None = None,
) -> int:
    """Plan dose reminders and lessons for each patient's local today and the next day(s)."""
    planned = 0
    dose_window = timedelta(minutes=settings.dose_window_minutes)
    async with db.sessions() as session:
        groups = (
            await session.execute(
                _active(patient_ids)
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
            due = reminder_time(day, dose_time, zone, quiet_start, quiet_end)
            # The window runs from the time the patient chose, not from a time quiet
            # hours moved it to: a dose reminder must never arrive hours late.
            expires = local_instant(day, dose_time, zone) + dose_window
            if expires <= now or due >= expires:
                continue  # its window has passed: nothing to plan, nothing to send late
            who = _active(patient_ids).where(
                Patient.time_zone == zone,
                Patient.dose_time == dose_time,
                Patient.quiet_start == quiet_start,
                Patient.quiet_end == quiet_end,
            )
            planned += await _plan_group(db, "dose", "dose", due, expires, day, who)
    planned += await _plan_lessons(db, settings, now, days, patient_ids)
    return planned


async def _plan_lessons(
    db: Database,
    settings: SchedulerSettings,
    now: datetime,
    days: int,
    patient_ids: Sequence[int] | None,
) -> int:
    tracks = await published_tracks(db)
    if not tracks:
        return 0
    window = timedelta(minutes=settings.lesson_window_minutes)
    # The control arm gets routine care only: no lesson pushes.
    learners = _active(patient_ids).where(
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
            who = learners.where(
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


@dataclass(frozen=True)
class Released:
    queued: int
    held: Counter[str]  # final states reached without sending, by state


class _Due(Protocol):
    """What the rules read of a claimed occurrence (a row of the claiming query)."""

    patient_id: int
    kind: str
    local_date: date
    expires_at: datetime


async def release_due(
    db: Database, settings: SchedulerSettings, now: datetime, publish: Publish | None = None
) -> Released:
    """Turn due occurrences into messages: queued for a channel, or final with a reason.

    Set-based: one claiming SELECT, two look-ups, then one executemany each for the
    messages and the occurrences. Row by row through the ORM this was most of a burst's
    time (about 3,800 a second); see docs/benchmarks.md.

    With `publish` (the worker's), the SendMessage commands go straight to the bus once the
    transaction has committed; if that fails, or the process dies first, the messages stay
    queued and `dispatch.requeue_unsent` gives them commands (shared/bus/publisher.py says
    why). Without it they are written to the outbox with the messages, as every other event.
    """
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(
                    Occurrence.id,
                    Occurrence.patient_id,
                    Occurrence.kind,
                    Occurrence.local_date,
                    Occurrence.expires_at,
                    Patient.state,
                    Patient.opted_out_at,
                    Patient.clinic_id,
                )
                .join(Patient, Patient.id == Occurrence.patient_id)
                .where(Occurrence.state == "planned", Occurrence.due_at <= now)
                .order_by(Occurrence.due_at)
                .limit(settings.release_batch_size)
                .with_for_update(of=Occurrence, skip_locked=True)
            )
        ).all()
        if not rows:
            return Released(0, Counter())
        # patient IN (...) AND day IN (...) rather than (patient, day) IN (...): PostgreSQL
        # turns a long tuple list into a scan of the whole table, which grew with every
        # batch of a burst; the exact pairs are picked out here.
        keys = {(row.patient_id, row.local_date) for row in rows}
        patients = list({patient_id for patient_id, _ in keys})
        days = list({day for _, day in keys})
        dose_rows = await session.execute(
            select(Dose.patient_id, Dose.local_date).where(
                one_of(session, Dose.patient_id, patients),
                one_of(session, Dose.local_date, days),
            )
        )
        dosed = {(row[0], row[1]) for row in dose_rows} & keys
        count_rows = await session.execute(
            select(Message.patient_id, Message.local_date, func.count())
            .where(
                one_of(session, Message.patient_id, patients),
                one_of(session, Message.local_date, days),
                # Not NOT IN: SQLAlchemy renders an IN list again at every execution.
                *(Message.state != state for state in FINAL_WITHOUT_SENDING),
            )
            .group_by(Message.patient_id, Message.local_date)
        )
        sent_today: Counter[int] = Counter()
        for patient_id, day, count in count_rows:
            if (patient_id, day) in keys:
                sent_today[patient_id] += count
        held: Counter[str] = Counter()
        messages: list[dict[str, Any]] = []
        occurrences: list[dict[str, Any]] = []
        commands: list[SendMessage] = []
        for row in rows:
            state, reason = _decide(
                row, row.state, row.opted_out_at, dosed, sent_today, settings, now
            )
            message_id = str(uuid.uuid4())
            messages.append(
                {
                    "id": message_id,
                    "occurrence_id": row.id,
                    "patient_id": row.patient_id,
                    "clinic_id": row.clinic_id,
                    "kind": row.kind,
                    "local_date": row.local_date,
                    "state": state,
                    "reason": reason,
                    "attempts": 0,
                    "expires_at": row.expires_at,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            occurrences.append({"occurrence": row.id, "state": state, "reason": reason})
            if state == "queued":
                sent_today[row.patient_id] += 1
                commands.append(SendMessage(message_id=message_id))
            else:
                held[state] += 1
        # Core statements, not the ORM's bulk paths, whose per-row bookkeeping cost as much
        # as the database's own work.
        await _NEW_MESSAGES.execute(session, messages)
        await _SET_STATE.execute(session, occurrences)
        if commands and publish is None:
            await session.execute(insert(OUTBOX), outbox_rows(commands))
    if commands and publish is not None:
        try:
            await publish(commands)
        except (RedisError, OSError) as exc:
            # Committed, so not lost: the sweep finds them queued without a command.
            log.warning("planner.publish_failed", count=len(commands), error=type(exc).__name__)
    return Released(len(commands), held)


def outbox_rows(commands: Sequence[SendMessage]) -> list[dict[str, Any]]:
    """Outbox rows as `add_to_outbox` writes them, for one bulk INSERT."""
    created = datetime.now(UTC)
    name, tag = SendMessage.name(), SendMessage.tag()
    return [
        {
            "message_id": str(command.id),
            "message_name": name,
            "message_tag": tag,
            "payload": encode_payload(command),
            "created_at": created,
            "published_at": None,
        }
        for command in commands
    ]


def _decide(
    occurrence: _Due,
    patient_state: str,
    opted_out_at: datetime | None,
    dosed: set[tuple[int, Any]],
    sent_today: Counter[int],
    settings: SchedulerSettings,
    now: datetime,
) -> tuple[str, str | None]:
    if opted_out_at is not None:
        return "opted_out", "patient opted out"
    if patient_state != "active":
        return "skipped", f"patient {patient_state}"
    if now >= occurrence.expires_at:
        return "expired", "its window passed before it could be sent"
    if occurrence.kind == "dose" and (occurrence.patient_id, occurrence.local_date) in dosed:
        return "suppressed", "today's dose is already recorded"
    if sent_today[occurrence.patient_id] >= settings.daily_message_cap:
        return "suppressed", f"daily cap of {settings.daily_message_cap} messages reached"
    return "queued", None


async def fail_stale(db: Database, now: datetime) -> int:
    """Messages a dispatcher never finished before their window closed end as failed, with
    the reason, so nothing stays in flight forever."""
    async with db.transaction() as session:
        result = await session.execute(
            update(Message)
            .where(Message.state.in_(("queued", "sending")), Message.expires_at < now)
            .values(
                state="failed",
                updated_at=now,
                reason=func.coalesce(Message.reason, "not sent before its window closed"),
            )
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def resume_due(db: Database, now: datetime) -> int:
    """Resume paused patients whose resume date has come in their own time zone."""
    resumed = 0
    async with db.transaction() as session:
        zones = (
            (
                await session.execute(
                    select(Patient.time_zone)
                    .where(Patient.state == "paused", Patient.resume_on.is_not(None))
                    .distinct()
                )
            )
            .scalars()
            .all()
        )
        for zone in zones:
            due = (
                (
                    await session.execute(
                        select(Patient)
                        .where(
                            Patient.state == "paused",
                            Patient.time_zone == zone,
                            Patient.resume_on <= local_today(now, zone),
                        )
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            for patient in due:
                patient.state, patient.pause_reason, patient.resume_on = "active", None, None
                patient.updated_at = now
                add_to_outbox(session, Outbox, updated_event(patient))
            resumed += len(due)
    return resumed
