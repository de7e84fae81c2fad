"""Releasing due occurrences: claimed with FOR UPDATE SKIP LOCKED (replicas share the work
without duplicates), judged by the rules, and turned into one message row each, in one
transaction; the SendMessage commands follow straight after the commit (or go in the outbox
when no publisher is given).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from redis.exceptions import RedisError
from sqlalchemy import Table, func, insert, select

from services.scheduler.models import Dose, Message, Occurrence, Outbox, Patient
from services.scheduler.settings import SchedulerSettings
from shared.bulk import BulkWrite, one_of
from shared.bus.codec import encode_payload
from shared.db import Database
from shared.logging import get_logger
from shared.messages import SendMessage

FINAL_WITHOUT_SENDING = ("suppressed", "expired", "opted_out", "skipped")

# Puts commands on the bus now (shared.bus.Publisher.publish).
Publish = Callable[[Sequence[SendMessage]], Awaitable[None]]

log = get_logger("services.scheduler.planner")

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
            state, reason = decide(
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


def decide(
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
