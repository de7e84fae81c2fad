"""Dispatching a burst: a whole read batch of SendMessage commands at a time.

The single-message path costs a claim transaction and a record transaction per message;
at a national morning burst (200,000 reminders) that is the bottleneck. Here one
transaction claims the batch, the provider calls run concurrently (bounded), and one
transaction records every outcome and attempt. The rules are the single path's own
(`Dispatcher.send`, `final_before_sending`); lessons and record replies, which need
per-patient reads, still go one by one.

The consumer runs this handler without its inbox (`StateGuarded`): a message is claimed
only while it is open and due, so a second command for it does nothing, and no processed
ids need recording.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, case, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.dispatch.rules import (
    OPEN_STATES,
    SENDING_TAKEOVER,
    AttemptRow,
    Outcome,
    final_before_sending,
    receipt_came_first_sql,
    waiting_for_retry,
)
from services.scheduler.dispatch.single import Dispatcher
from services.scheduler.events import updated_event
from services.scheduler.models import Attempt, Message, Outbox, Patient
from shared.bulk import BulkWrite, Computed, one_of
from shared.bus import add_to_outbox
from shared.messages import SendMessage

ATTEMPTS: Table = Attempt.__table__  # type: ignore[assignment]
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
_PATIENTS: Table = Patient.__table__  # type: ignore[assignment]
_WRITTEN = ("state", "reason", "channel", "provider_id", "retry_at", "updated_at", "attempts")
# Each a single statement per batch on PostgreSQL (shared/bulk.py).
_RECORD = BulkWrite(_MESSAGES, _WRITTEN, key="id", key_param="message")


def _unless_receipt_came_first(name: str) -> Computed:
    def value(new: Mapping[str, ColumnElement[Any]]) -> ColumnElement[Any]:
        came_first = receipt_came_first_sql(_MESSAGES.c.state, new["state"])
        return case((came_first, _MESSAGES.c[name]), else_=new[name])

    return value


# The outcome, decided against the row as the UPDATE finds it locked: a receipt that landed
# during the send is kept (a locking read before the write cost a statement per batch).
_OUTCOME = BulkWrite(
    _MESSAGES,
    _WRITTEN,
    key="id",
    key_param="message",
    computed={name: _unless_receipt_came_first(name) for name in ("state", "reason")},
)
_ATTEMPTS = BulkWrite(ATTEMPTS, ("message_id", "channel", "at", "outcome", "provider_id", "error"))


@dataclass(slots=True)
class BatchMessage:
    """A claimed message as plain data. Loading ORM objects for the claim (identity map,
    instance state) cost a tenth of a burst's CPU; the rules read the same attributes
    (`dispatch.Sendable`)."""

    id: str
    kind: str
    patient_id: int
    state: str
    reason: str | None
    channel: str | None
    provider_id: str | None
    retry_at: datetime | None
    updated_at: datetime
    attempts: int
    expires_at: datetime


@dataclass(slots=True)
class BatchPatient:
    """What sending reads of the patient (`dispatch.Recipient`)."""

    state: str
    opted_out_at: datetime | None
    channel_order: list[str]
    phone_enc: str | None
    openid_enc: str | None
    wrote_on_wechat_at: datetime | None
    language: str
    explicit_wording: bool
    display_name: str
    time_zone: str


_MESSAGE_FIELDS = [f.name for f in fields(BatchMessage)]
_PATIENT_FIELDS = [f.name for f in fields(BatchPatient)]
_CLAIM = (
    select(
        *(_MESSAGES.c[name] for name in _MESSAGE_FIELDS),
        *(_PATIENTS.c[name].label(f"patient_{name}") for name in _PATIENT_FIELDS),
    )
    .join(_PATIENTS, _PATIENTS.c.id == _MESSAGES.c.patient_id)
    .with_for_update(of=_MESSAGES, skip_locked=True)
)


def _columns(message: BatchMessage, **changes: Any) -> dict[str, Any]:
    """A message's row for `_RECORD`: its current values with `changes` over them."""
    row = {name: getattr(message, name) for name in _WRITTEN}
    row.update(changes, message=message.id)
    return row


SIMPLE_KINDS = frozenset({"dose", "missed_dose", "urine_test", "appointment", "closure_notice"})
TRIED = ("sent", "delivered", "permanent")


class BatchDispatcher:
    def __init__(self, dispatcher: Dispatcher, in_flight: int = 64) -> None:
        self.dispatcher = dispatcher
        self.in_flight = in_flight

    async def handle(self, commands: list[SendMessage], session: AsyncSession) -> None:
        claimed, singles = await self._claim([command.message_id for command in commands])
        for command in commands:
            if command.message_id in singles:
                await self.dispatcher.handle(command, session)
        results: list[tuple[BatchMessage, Outcome, list[AttemptRow]]] = []
        waiting = iter(claimed)

        async def lane() -> None:
            # `in_flight` lanes take the next message as they finish one: a task and a
            # semaphore wait per message cost more of the loop's time (py-spy).
            for message, patient, tried in waiting:
                attempts: list[AttemptRow] = []
                outcome = await self.dispatcher.send(message, patient, None, None, attempts, tried)
                results.append((message, outcome, attempts))

        await asyncio.gather(*(lane() for _ in range(min(self.in_flight, len(claimed)))))
        await self._record(session, results)

    async def _claim(
        self, ids: list[str]
    ) -> tuple[list[tuple[BatchMessage, BatchPatient, set[str]]], set[str]]:
        dispatcher = self.dispatcher
        now = dispatcher.clock()
        claimed: list[tuple[BatchMessage, BatchPatient]] = []
        singles: set[str] = set()
        async with dispatcher.db.transaction() as session:
            # By id alone, the state checked below: with `state IN ('queued', 'sending')` in
            # the query, PostgreSQL's statistics (taken when nearly every message was final)
            # led it to the partial index of open messages, which a burst fills with
            # hundreds of thousands, for every batch (docs/benchmarks.md).
            claim = _CLAIM.where(one_of(session, _MESSAGES.c.id, ids))
            rows = (await session.execute(claim)).all()
            # Decided here, written below in one Core executemany (the unit of work
            # flushing objects one by one cost more than the statement itself).
            changes: list[tuple[BatchMessage, dict[str, Any]]] = []
            for row in rows:
                message = BatchMessage(*row[: len(_MESSAGE_FIELDS)])
                patient = BatchPatient(*row[len(_MESSAGE_FIELDS) :])
                if message.state not in OPEN_STATES or waiting_for_retry(message, now):
                    continue  # finished already, or not yet: a duplicate command
                if message.kind not in SIMPLE_KINDS:
                    singles.add(message.id)
                    continue
                if message.state == "sending" and now - message.updated_at < SENDING_TAKEOVER:
                    continue  # another dispatcher has it in hand
                final = final_before_sending(message, patient, now, dispatcher.cipher)
                change = _columns(message, updated_at=now)
                if final is not None:
                    change["state"], change["reason"] = final
                else:
                    change.update(state="sending", retry_at=None, attempts=message.attempts + 1)
                    claimed.append((message, patient))
                changes.append((message, change))
            if changes:
                await _RECORD.execute(session, [change for _, change in changes])
            retried = [m.id for m, _ in claimed if m.attempts >= 1]  # tried before
            tried: dict[str, set[str]] = {}
            if retried:
                for message_id, channel in (
                    await session.execute(
                        select(Attempt.message_id, Attempt.channel).where(
                            one_of(session, Attempt.message_id, retried),
                            Attempt.outcome.in_(TRIED),
                        )
                    )
                ).all():
                    tried.setdefault(message_id, set()).add(channel)
        # Committed: the plain copies now take what was written.
        for message, change in changes:
            for name in _WRITTEN:
                setattr(message, name, change[name])
        return [(m, p, tried.get(m.id, set())) for m, p in claimed], singles

    async def _record(
        self, session: AsyncSession, results: list[tuple[BatchMessage, Outcome, list[AttemptRow]]]
    ) -> None:
        if not results:
            return
        now = self.dispatcher.clock()
        rows: list[dict[str, Any]] = []
        tries: list[dict[str, Any]] = []
        # In id order, the order every recorder locks in: no deadlock between two batches.
        for message, outcome, attempts in sorted(results, key=lambda result: result[0].id):
            tries += attempts
            rows.append(
                {
                    "message": message.id,
                    "state": outcome.state,
                    "reason": outcome.reason,
                    "channel": outcome.channel,
                    "provider_id": outcome.provider_id,
                    "retry_at": outcome.retry_at,
                    "updated_at": now,
                    "attempts": message.attempts - (1 if outcome.uncounted else 0),
                }
            )
            if outcome.opted_out:
                patient = await session.get(Patient, message.patient_id, with_for_update=True)
                if patient is not None and patient.opted_out_at is None:
                    patient.opted_out_at = now
                    add_to_outbox(session, Outbox, updated_event(patient))
        # Core statements, one per batch on PostgreSQL: the ORM's unit of work and bulk
        # paths cost more than the database's own work here (docs/benchmarks.md).
        if tries:
            await _ATTEMPTS.execute(session, tries)
        await _OUTCOME.execute(session, rows)
