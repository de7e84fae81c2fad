"""Applying delivery receipts to messages, a batch at a time, by one set of rules.

The worker applies a whole read batch of receipts (every provider's) in one transaction:
one locking read of the messages they name and one UPDATE of those that change (one
statement each on PostgreSQL, `shared/bulk.py`), where a receipt at a time cost a locked
read and an update each. A single receipt goes through the same code, so the batch rules
are the single rules:

- matched by our message id (Twilio's callback URL, Aliyun's OutId, Tencent's
  SessionContext), else by the provider's id;
- a final state is never undone; a receipt naming another send (the message has another
  provider id) changes nothing; once a send's failure (or its missing receipt) has queued
  the message again, only a `delivered` for that send still counts: a repeated failure or
  a late `sent` changes nothing (`fallback_under_way`);
- a failure keeps the provider's code as its reason and, while the message's window is
  open and the patient has a later channel, goes back in the queue for it
  (`sweeps.fall_back_without_receipt` does the same for a missing receipt);
- receipts for one message in one batch are applied in the order they came.

A receipt that matches no message comes back as `unknown_message`: its send may not be
recorded yet (Twilio can call back before our record of its answer), so the caller keeps it
for a while (`receipt_waiting.py`). So does one naming another send of a message being sent
again: it may be this send's, ahead of its record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.models import Message, Outbox, Patient
from shared.bulk import BulkWrite, one_of
from shared.bus import add_to_outbox
from shared.channels.base import ReceiptState, StatusUpdate
from shared.db import Database
from shared.messages import SendMessage
from shared.metrics import DELIVERY_RECEIPT_DELAY

UNKNOWN = "unknown_message"
FINAL = ("delivered", "failed", "expired", "opted_out", "suppressed", "skipped")
RETRYING = ("queued", "sending")  # with this send's provider id: it is being tried again
# A failed receipt with one of these codes ends the message without trying another channel:
# Twilio 21610, the patient replied STOP to us (the domain's rule: never send past an opt-out).
NO_FALLBACK_CODES = frozenset({"21610"})

_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
_PATIENTS: Table = Patient.__table__  # type: ignore[assignment]
_WRITTEN = ("state", "reason", "provider_id", "updated_at")
_WRITE = BulkWrite(_MESSAGES, _WRITTEN, key="id", key_param="message")
_FIELDS = ("id", "state", "reason", "channel", "provider_id", "updated_at", "expires_at")
_LOCK = (
    select(*(_MESSAGES.c[name] for name in _FIELDS), _PATIENTS.c.channel_order)
    .join(_PATIENTS, _PATIENTS.c.id == _MESSAGES.c.patient_id)
    .order_by(_MESSAGES.c.id)  # the order every recorder locks in: no deadlock
    .with_for_update(of=_MESSAGES)
)


@dataclass(slots=True)
class _Row:
    """A locked message as plain data, changed in memory as its receipts are decided."""

    id: str
    state: str
    reason: str | None
    channel: str | None
    provider_id: str | None
    updated_at: datetime
    expires_at: datetime
    channel_order: list[str]
    changed: bool = False


@dataclass(frozen=True, slots=True)
class Receipt:
    """A receipt to apply and the provider it came from."""

    provider: str
    update: StatusUpdate


async def apply_receipt(
    db: Database, update: StatusUpdate, provider: str, now: datetime | None = None
) -> str:
    """Record one receipt; returns what happened (for the metric). `now` (default: the
    clock) decides whether the message's window is still open for another channel."""
    return (await apply_receipts(db, [update], provider, now))[0]


async def apply_receipts(
    db: Database, updates: Sequence[StatusUpdate], provider: str, now: datetime | None = None
) -> list[str]:
    """One provider's receipts in one transaction; what happened to each, in order."""
    async with db.transaction() as session:
        receipts = [Receipt(provider, update) for update in updates]
        return await apply_in(session, receipts, now or datetime.now(UTC))


async def apply_in(
    session: AsyncSession,
    receipts: Sequence[Receipt],
    now: datetime,
    heard: dict[str, datetime] | None = None,
) -> list[str]:
    """Apply `receipts` in `session`'s transaction: what happened to each, in order.

    `heard`, if given, gets by channel the latest send time of a `sent` message a receipt
    moved on (the fallback's evidence that receipts for that time have come back)."""
    ours = sorted({r.update.message_id for r in receipts if r.update.message_id})
    theirs = sorted({r.update.provider_id for r in receipts if not r.update.message_id})
    by_id: dict[str, _Row] = {}
    by_provider: dict[str, _Row] = {}
    if ours:
        for row in await _lock(session, _MESSAGES.c.id, ours):
            by_id[row.id] = row
    if theirs:  # rare: every adapter puts our id in its request; no index on provider_id
        for row in await _lock(session, _MESSAGES.c.provider_id, theirs):
            by_provider[row.provider_id or ""] = by_id.setdefault(row.id, row)
    outcomes = []
    for receipt in receipts:
        update = receipt.update
        found = by_id.get(update.message_id) if update.message_id else None
        if not update.message_id:
            found = by_provider.get(update.provider_id)
        if heard is not None and found is not None:
            _hear(heard, found, update)
        outcomes.append(_decide(session, found, receipt, now))
    changed = [row for row in by_id.values() if row.changed]
    await _WRITE.execute(
        session,
        [{"message": row.id, **{name: getattr(row, name) for name in _WRITTEN}} for row in changed],
    )
    return outcomes


async def _lock(session: AsyncSession, column: Any, values: list[str]) -> list[_Row]:
    rows = await session.execute(_LOCK.where(one_of(session, column, values)))
    return [_Row(**row._mapping) for row in rows.all()]


def _decide(session: AsyncSession, row: _Row | None, receipt: Receipt, now: datetime) -> str:
    """One receipt's effect on its (locked, in-memory) message; the outcome's name."""
    update, provider = receipt.update, receipt.provider
    if row is None:
        return UNKNOWN if update.provider_id or update.message_id else "unmatchable"
    if row.provider_id not in (None, update.provider_id):
        # A message being sent again still carries its previous send's id until this
        # send's outcome is recorded: a receipt for this send can overtake that record, so
        # it is kept and tried again (`receipt_waiting.py`), not dropped.
        return UNKNOWN if row.state == "sending" else "another_send"
    if row.state in FINAL:
        return "already_final"
    retrying = row.state in RETRYING and row.provider_id == update.provider_id
    if retrying and update.state is not ReceiptState.DELIVERED:
        # This send failed (or was taken for lost) and the message waits for, or is in, its
        # next try: a repeated callback, or a `sent` that came after the failure, must not
        # end that try (a duplicate `failed` used to fail the message).
        return "fallback_under_way"
    if row.state == "sent" and update.state is not ReceiptState.SENT:
        _observe_delay(provider, row.updated_at, now)
    if update.state is ReceiptState.DELIVERED:
        row.state, row.reason = "delivered", None
    elif update.state in (ReceiptState.UNDELIVERED, ReceiptState.FAILED):
        reason = f"{provider} {update.state.value}" + (
            f" (error {update.error_code})" if update.error_code else ""
        )
        later = _later_channel(row, update, now)
        if later is not None:
            row.state, row.reason = "queued", f"{reason}: trying {later}"
            add_to_outbox(session, Outbox, SendMessage(message_id=row.id))
        else:
            row.state, row.reason = "failed", reason
    else:
        row.state = "sent"
    row.provider_id, row.updated_at, row.changed = update.provider_id, now, True
    return update.state.value


def _hear(heard: dict[str, datetime], row: _Row, update: StatusUpdate) -> None:
    """A receipt for this send of a `sent` message: note its send time for its channel."""
    if row.state != "sent" or not row.channel or row.provider_id not in (None, update.provider_id):
        return
    sent_at = _aware(row.updated_at)
    if row.channel not in heard or sent_at > heard[row.channel]:
        heard[row.channel] = sent_at


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite: naive UTC


def _observe_delay(provider: str, sent_at: datetime, now: datetime) -> None:
    """How long after its send a receipt came (the alert on late receipts reads it)."""
    sent_at = _aware(sent_at)
    DELIVERY_RECEIPT_DELAY.labels(provider).observe(max(0.0, (now - sent_at).total_seconds()))


def _later_channel(row: _Row, update: StatusUpdate, now: datetime) -> str | None:
    """The patient's next channel after the one that failed, if the message may still use it.

    Only a message whose send was recorded (`sent`): its attempt on this channel is then on
    file, so the dispatcher skips that channel on the next try. A receipt that overtakes the
    send's own outcome (`sending`) fails the message as before; the send never undoes it."""
    expires_at = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    if row.state != "sent" or expires_at <= now:
        return None
    if update.error_code in NO_FALLBACK_CODES:
        return None
    order = row.channel_order or []
    if row.channel not in order:
        return None
    later = order[order.index(row.channel) + 1 :]
    return later[0] if later else None
