"""The batch dispatcher's guarantees that rest on the messages' own state (it runs
without the bus's inbox): a provider's receipt that lands while the batch is still
sending is never overwritten, and a late copy of a command sends nothing early."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from structlog.testing import capture_logs

from services.scheduler import planner
from services.scheduler.dispatch import BatchDispatcher, Dispatcher
from services.scheduler.models import Attempt, Message, Outbox
from services.scheduler.settings import SchedulerSettings
from services.scheduler.sweeps import requeue_retries
from shared.bus import decode
from shared.channels import ChannelRegistry, OutboundMessage, SendFailed, SendResult
from shared.channels.base import Delivery, FailureKind
from shared.db import Database
from shared.messages import SendMessage
from tests.integration.schedutil import clinic, context, enrol

pytestmark = pytest.mark.usefixtures("secrets_env")

NOW = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai


async def _commands(db: Database) -> list[SendMessage]:
    async with db.sessions() as session:
        rows = (await session.execute(select(Outbox.payload))).scalars().all()
    return [c for c in (decode({"m": p}) for p in rows) if isinstance(c, SendMessage)]


class ReceiptBeforeRecord:
    """Twilio's side of a race: for the messages in `receipts`, the status callback is
    recorded (committed, as the webhook route does) before the send call returns."""

    code = "sms"

    def __init__(self, db: Database, receipts: dict[str, tuple[str, str | None]]) -> None:
        self.db = db
        self.receipts = receipts

    async def send(self, message: OutboundMessage) -> SendResult:
        receipt = self.receipts.get(message.message_id)
        if receipt is not None:
            async with self.db.transaction() as session:
                await session.execute(
                    update(Message)
                    .where(Message.id == message.message_id)
                    .values(state=receipt[0], reason=receipt[1])
                )
        return SendResult(Delivery.SENT, provider_id=f"SM{message.message_id[:8]}")

    async def aclose(self) -> None:
        return None


async def test_a_receipt_that_came_first_is_kept_and_the_rest_are_recorded_sent(
    scheduler_db: Database, access_db: Database
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db)
    for i in range(6):
        await enrol(ctx, yx, f"{i:04d}")
    assert (await planner.release_due(scheduler_db, SchedulerSettings(), NOW)).queued == 6
    commands = await _commands(scheduler_db)
    ids = sorted(c.message_id for c in commands)
    receipts = {ids[1]: ("delivered", None), ids[4]: ("failed", "30003: unreachable handset")}
    channel = ReceiptBeforeRecord(scheduler_db, receipts)
    dispatcher = Dispatcher(
        scheduler_db, ctx.cipher, ChannelRegistry([channel]), None, clock=lambda: NOW
    )

    async with scheduler_db.transaction() as session:
        await BatchDispatcher(dispatcher).handle(commands, session)

    async with scheduler_db.sessions() as session:
        found = {
            row.id: (row.state, row.reason, row.provider_id, row.attempts)
            for row in await session.execute(
                select(Message.id, Message.state, Message.reason, Message.provider_id,
                       Message.attempts)
            )
        }  # fmt: skip
        attempts = (await session.execute(select(Attempt.message_id, Attempt.outcome))).all()
    expected = {
        message_id: (*receipts.get(message_id, ("sent", None)), f"SM{message_id[:8]}", 1)
        for message_id in ids
    }
    assert found == expected
    # Every send is on record as an attempt, whatever the receipt said since.
    assert sorted(attempts) == [(message_id, "sent") for message_id in ids]


class FailsOnce:
    """Retryable failure on the first call (a Twilio 503), then sends."""

    code = "sms"

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, message: OutboundMessage) -> SendResult:
        self.calls += 1
        if self.calls == 1:
            raise SendFailed(FailureKind.RETRYABLE, "twilio 503", code="503")
        return SendResult(Delivery.SENT, provider_id="SM-2")

    async def aclose(self) -> None:
        return None


async def test_a_late_copy_of_a_command_leaves_a_retry_to_its_time(
    scheduler_db: Database, access_db: Database
) -> None:
    """Without an inbox, a redelivered command for a message waiting to be retried must
    not send it before its backoff is over: only the retry's own command does."""
    clock = [NOW]
    ctx = context(scheduler_db, access_db, clock=lambda: clock[0])
    await enrol(ctx, await clinic(access_db), "0001")
    await planner.release_due(scheduler_db, SchedulerSettings(), NOW)
    [command] = await _commands(scheduler_db)
    channel = FailsOnce()
    dispatcher = Dispatcher(
        scheduler_db, ctx.cipher, ChannelRegistry([channel]), None, clock=lambda: clock[0]
    )
    batch = BatchDispatcher(dispatcher)
    async with scheduler_db.transaction() as session:
        await batch.handle([command], session)
    async with scheduler_db.sessions() as session:
        message = await session.get(Message, command.message_id)
    assert message is not None
    assert message.state == "queued"
    assert message.retry_at is not None

    clock[0] = NOW + timedelta(seconds=1)  # the copy comes back long before the retry
    async with scheduler_db.transaction() as session:
        await batch.handle([command], session)
    async with scheduler_db.transaction() as session:
        await dispatcher.handle(command, session)
    assert channel.calls == 1

    clock[0] = message.retry_at + timedelta(seconds=1)
    async with scheduler_db.transaction() as session:
        await session.execute(delete(Outbox))
    assert await requeue_retries(scheduler_db, clock[0]) == 1
    [retry] = await _commands(scheduler_db)
    async with scheduler_db.transaction() as session:
        await batch.handle([retry], session)
    async with scheduler_db.sessions() as session:
        sent = await session.get(Message, command.message_id)
    assert channel.calls == 2
    assert sent is not None
    assert (sent.state, sent.provider_id, sent.attempts) == ("sent", "SM-2", 2)


@pytest.mark.parametrize(("backoff", "first_wait_s"), [(None, 10.0), ("1", 2.0)])
async def test_the_first_retry_waits_twice_the_backoff_with_jitter(
    scheduler_db: Database,
    access_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    backoff: str | None,
    first_wait_s: float,
) -> None:
    if backoff is None:
        monkeypatch.delenv("RETRY_BACKOFF_S", raising=False)  # the default, 5 s
    else:
        monkeypatch.setenv("RETRY_BACKOFF_S", backoff)
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    await enrol(ctx, await clinic(access_db), "0001")
    await planner.release_due(scheduler_db, SchedulerSettings(), NOW)
    [command] = await _commands(scheduler_db)
    dispatcher = Dispatcher(
        scheduler_db, ctx.cipher, ChannelRegistry([FailsOnce()]), None, clock=lambda: NOW
    )
    async with scheduler_db.transaction() as session:
        await BatchDispatcher(dispatcher).handle([command], session)
    async with scheduler_db.sessions() as session:
        message = await session.get(Message, command.message_id)
    assert message is not None
    assert message.retry_at is not None
    wait = (message.retry_at - NOW).total_seconds()
    assert first_wait_s <= wait <= first_wait_s * 1.5, wait


class BreaksOnOne:
    """An adapter that sends every message but one, on which it raises something that is
    not a provider's answer (a bug, or Redis gone from under the pacer)."""

    code = "sms"

    def __init__(self, broken: str) -> None:
        self.broken = broken
        self.sent: list[str] = []

    async def send(self, message: OutboundMessage) -> SendResult:
        if message.message_id == self.broken:
            raise RuntimeError(f"crashed on {message.address}")  # quotes the number: never logged
        self.sent.append(message.message_id)
        return SendResult(Delivery.SENT, provider_id=f"SM{message.message_id[:8]}")

    async def aclose(self) -> None:
        return None


async def test_one_send_crashing_keeps_the_rest_of_its_batch_on_record(
    scheduler_db: Database, access_db: Database
) -> None:
    """Found by the chaos run: one lane's exception threw away the outcomes of a batch the
    provider had partly taken; left `sending`, those were taken over a minute later and
    sent a second time. Now the provider's messages are recorded sent, and the crashed one
    is retried with its reason."""
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db)
    for i in range(8):
        await enrol(ctx, yx, f"{i:04d}")
    await planner.release_due(scheduler_db, SchedulerSettings(), NOW)
    commands = await _commands(scheduler_db)
    ids = sorted(c.message_id for c in commands)
    channel = BreaksOnOne(ids[3])
    dispatcher = Dispatcher(
        scheduler_db, ctx.cipher, ChannelRegistry([channel]), None, clock=lambda: NOW
    )

    with capture_logs() as logged:
        async with scheduler_db.transaction() as session:
            await BatchDispatcher(dispatcher, in_flight=4).handle(commands, session)

    async with scheduler_db.sessions() as session:
        found = {
            row.id: (row.state, row.reason, row.retry_at is not None)
            for row in await session.execute(
                select(Message.id, Message.state, Message.reason, Message.retry_at)
            )
        }
        attempts = (
            await session.execute(
                select(Attempt.outcome, Attempt.error).where(Attempt.message_id == ids[3])
            )
        ).all()
    assert sorted(channel.sent) == [i for i in ids if i != ids[3]]
    assert found == {
        i: ("queued", "retrying: sms: unexpected RuntimeError", True)
        if i == ids[3]
        else ("sent", None, False)
        for i in ids
    }
    assert attempts == [("retryable", "sms: unexpected RuntimeError")]
    # Logged with the type alone: the exception's text quotes the phone number.
    crashed = [entry for entry in logged if entry["event"] == "dispatch.send_crashed"]
    assert crashed == [
        {
            "event": "dispatch.send_crashed",
            "log_level": "error",
            "message_id": ids[3],
            "channel": "sms",
            "error": "RuntimeError",
        }
    ]
