"""Sweeps of the messages table, run by the worker's housekeeping tick: each finds
messages that need a command on the bus and gives them one, through the outbox.

- `requeue_retries`: a retry whose time has come;
- `requeue_unsent`: a queued message the bus does not have (see shared/bus/publisher.py);
- `rescue_stalled`: a message left `sending` by a dispatcher that died;
- `fall_back_without_receipt`: a message a channel never confirmed goes to the next one.

A duplicate command is harmless: the dispatcher claims a message only while it is open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select

from services.scheduler.dispatch import SENDING_TAKEOVER
from services.scheduler.models import Message, Outbox, Patient
from shared.bus import add_to_outbox
from shared.db import Database
from shared.logging import get_logger
from shared.messages import SendMessage

log = get_logger(__name__)

# A queued message older than this, with every command of the stream already handed out,
# has lost its command. Long enough that a command in the outbox has been relayed.
UNSENT_AFTER = timedelta(seconds=60)


async def _requeue(
    db: Database, limit: int, touch: Callable[[Message], None], *where: ColumnElement[bool]
) -> int:
    """Lock the messages `where` picks (skipping any another sweep holds), `touch` each and
    give it a command through the outbox; returns how many."""
    async with db.transaction() as session:
        found = (
            (
                await session.execute(
                    select(Message).where(*where).limit(limit).with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        for message in found:
            touch(message)
            add_to_outbox(session, Outbox, SendMessage(message_id=message.id))
    return len(found)


async def requeue_retries(db: Database, now: datetime, limit: int = 2000) -> int:
    """Messages whose retry time has come go back on the bus (a planner tick)."""

    def touch(message: Message) -> None:
        # Touched, so `requeue_unsent` leaves it to the command given here.
        message.retry_at, message.updated_at = None, now

    return await _requeue(db, limit, touch, Message.state == "queued", Message.retry_at <= now)


async def requeue_unsent(
    db: Database,
    now: datetime,
    all_delivered: Callable[[], Awaitable[bool]],
    limit: int = 2000,
) -> int:
    """Queued messages whose command the bus has not got are given one.

    The planner publishes a burst's commands after its commit; a publish that failed, a
    process killed between the two, or Redis losing the stream leaves a message queued with
    no command. While the stream still holds entries no dispatcher has read, a message
    queued for a while is only waiting its turn in a burst: the sweep waits too
    (`all_delivered`). After that, a queued message untouched for UNSENT_AFTER has none.
    """
    if not await all_delivered():
        return 0

    def touch(message: Message) -> None:
        message.updated_at = now  # swept again only after another UNSENT_AFTER

    found = await _requeue(
        db,
        limit,
        touch,
        Message.state == "queued",
        Message.retry_at.is_(None),
        Message.updated_at < now - UNSENT_AFTER,
        Message.expires_at > now,
    )
    if found:
        log.warning("dispatch.requeued_unsent", count=found)
    return found


async def rescue_stalled(db: Database, now: datetime, limit: int = 2000) -> int:
    """Messages left `sending` by a dispatcher that died go back on the bus.

    Normally the dead dispatcher's command stays pending and another one takes the message
    over once it has been sending for SENDING_TAKEOVER. But a command can be gone: Redis
    lost it (wiped or restarted without persistence), or a batch saw the message still in
    another's hands and acknowledged its own copy. Without this sweep such a message would
    wait, unsent, until its window closed. A message sending for twice the takeover time
    has no live sender (provider calls time out long before), so a new command may take it
    over at once; the worst case is the one send in flight at the death repeated, which
    the guarantees allow."""

    def touch(message: Message) -> None:
        # Takeover allowed on arrival; swept again only after another whole takeover.
        message.updated_at = now - SENDING_TAKEOVER

    found = await _requeue(
        db,
        limit,
        touch,
        Message.state == "sending",
        Message.updated_at < now - 2 * SENDING_TAKEOVER,
        Message.expires_at > now,
    )
    if found:
        log.warning("dispatch.rescued_stalled", count=found)
    return found


async def fall_back_without_receipt(
    db: Database,
    now: datetime,
    wait: timedelta,
    receipt_channels: tuple[str, ...] = ("sms",),
    receipts_applied_until: datetime | None = None,
    receipts_heard_until: Mapping[str, datetime] | None = None,
) -> int:
    """Messages `sent` on a channel that sends receipts, with none after `wait`, are
    tried on the patient's next channel (if any, and while their window is open).

    A missing receipt may be late rather than lost, and a second reminder to a patient who
    got the first is what this must not cause. Two guards hold the fallback back:
    - `receipts_applied_until`: receipts are applied from a stream (`receipt_stream.py`),
      and in a burst the worker may be behind; a message counts as without a receipt only
      if its whole `wait` ended before the oldest receipt still waiting there arrived.
    - `receipts_heard_until` (by channel): receipts also wait before the stream, at the
      provider and in a starved API (`mmt bench morning` saw them 285 s late). A message
      counts as without a receipt only if receipts have come back for messages sent after
      it on its channel, or, when none have, once it is `2 * wait` old (a provider that
      sends no receipts at all must not hold every fallback forever).
    Without `receipts_heard_until` (None) only the first guard applies."""
    horizon = min(now, receipts_applied_until or now)
    conditions: list[ColumnElement[bool]] = [
        Message.state == "sent",
        Message.channel.in_(receipt_channels),
        Message.updated_at < horizon - wait,
        Message.expires_at > now,
    ]
    if receipts_heard_until is not None:
        conditions.append(
            or_(
                Message.updated_at < now - 2 * wait,
                *(
                    and_(Message.channel == channel, Message.updated_at < heard)
                    for channel, heard in receipts_heard_until.items()
                    if channel in receipt_channels
                ),
            )
        )
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(Message, Patient.channel_order)
                .join(Patient)
                .where(*conditions)
                .limit(2000)
                .with_for_update(of=Message, skip_locked=True)
            )
        ).all()
        moved = 0
        for message, order in rows:
            later = order[order.index(message.channel) + 1 :] if message.channel in order else []
            if not later:
                continue
            message.state, message.updated_at = "queued", now
            message.reason = f"no receipt from {message.channel} in {wait}: trying {later[0]}"
            add_to_outbox(session, Outbox, SendMessage(message_id=message.id))
            moved += 1
    return moved
