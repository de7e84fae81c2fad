"""Receipts applied by the worker from the stream: the batch rules are the single rules, a
receipt that comes before its send is kept and applied once the send is recorded, an
unknown one is dead-lettered after its bound, a redelivered batch changes nothing, and the
missing-receipt fallback waits for a backlog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update

from services.scheduler.models import Message
from services.scheduler.receipt_rules import Receipt, apply_in, apply_receipt
from services.scheduler.receipt_stream import applied_until, enqueue, heard_until
from services.scheduler.receipt_waiting import WaitingReceipts
from services.scheduler.sweeps import fall_back_without_receipt
from shared.bus import BusKeys, Publisher, list_dead_letters
from shared.channels.base import ReceiptState, StatusUpdate
from shared.db import Database
from tests.integration.receiptutil import apply_waiting, receipt_consumer
from tests.integration.test_scheduler_receipts_cn import resends, rows, sent_messages

# On each test, not the module: the cluster module runs some of them again.
SECRETS = pytest.mark.usefixtures("secrets_env")

DELIVERED, SENT, FAILED = ReceiptState.DELIVERED, ReceiptState.SENT, ReceiptState.UNDELIVERED


def publisher(redis: Redis, isolation: str) -> Publisher:
    return Publisher(redis, BusKeys(isolation.rstrip("_")))


def scenario(ids: list[str], first: int) -> list[StatusUpdate]:
    """Receipts for the five messages from `first` on (provider ids P<first>, ...), one of
    each rule: by our id, by the provider's id after an intermediate `sent`, a failure that
    falls back, a STOP failure that does not, a late one for a final message, and one
    naming another send."""
    m = ids[first : first + 5]
    p = [f"P{first + n}" for n in range(5)]
    return [
        StatusUpdate(p[0], DELIVERED, message_id=m[0]),
        StatusUpdate(p[1], SENT),
        StatusUpdate(p[1], DELIVERED),
        StatusUpdate(p[2], FAILED, "30003", message_id=m[2]),
        StatusUpdate(p[3], FAILED, "21610", message_id=m[3]),
        StatusUpdate(p[4], DELIVERED, message_id=m[4]),
        StatusUpdate(p[4], FAILED, message_id=m[4]),  # after a final state: nothing
        StatusUpdate("P-other", DELIVERED, message_id=m[0]),  # another send's
    ]


@SECRETS
async def test_a_batch_applies_the_rules_of_one_receipt_at_a_time(
    scheduler_db: Database, access_db: Database
) -> None:
    ids = await sent_messages(scheduler_db, access_db, 10)
    now = datetime.now(UTC)
    async with scheduler_db.transaction() as session:
        batch = await apply_in(session, [Receipt("twilio", u) for u in scenario(ids, 0)], now)
    one_by_one = [await apply_receipt(scheduler_db, u, "twilio", now) for u in scenario(ids, 5)]
    assert batch == one_by_one
    assert batch == [
        "delivered",
        "sent",
        "delivered",
        "undelivered",
        "undelivered",
        "delivered",
        "already_final",
        "another_send",
    ]
    found = await rows(scheduler_db)
    assert found[:5] == found[5:]
    assert found[:5] == [
        ("delivered", None),
        ("delivered", None),
        ("queued", "twilio undelivered (error 30003): trying wechat"),
        ("failed", "twilio undelivered (error 21610)"),
        ("delivered", None),
    ]


@SECRETS
async def test_a_receipt_before_its_send_is_recorded_is_kept_then_applied(
    scheduler_db: Database, access_db: Database, redis: Redis, isolation: str
) -> None:
    [message_id] = await sent_messages(scheduler_db, access_db, 1)
    async with scheduler_db.transaction() as session:  # Twilio answered; not recorded yet
        await session.execute(update(Message).values(state="sending", provider_id=None))
    # Twilio's receipt by its own id only: it matches nothing yet.
    await enqueue(publisher(redis, isolation), "twilio", [StatusUpdate("SM-early", DELIVERED)])
    consumer, applier = receipt_consumer(redis, isolation, scheduler_db)
    await apply_waiting(redis, isolation, scheduler_db)
    assert await applier.waiting.count() == 1
    await applier.retry_waiting()  # still nothing to match: kept
    assert (await applier.waiting.count(), await rows(scheduler_db)) == (1, [("sending", None)])
    async with scheduler_db.transaction() as session:  # the dispatcher records the send
        await session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(state="sent", provider_id="SM-early")
        )
    await applier.retry_waiting()
    assert (await applier.waiting.count(), await rows(scheduler_db)) == (0, [("delivered", None)])
    assert consumer.group == "scheduler"


@SECRETS
async def test_an_unknown_receipt_is_dead_lettered_after_its_bound(
    scheduler_db: Database, access_db: Database, redis: Redis, isolation: str
) -> None:
    await sent_messages(scheduler_db, access_db, 1)
    stranger = StatusUpdate("SM-nobody", DELIVERED, message_id="no-such-message")
    await enqueue(publisher(redis, isolation), "twilio", [stranger])
    later = datetime.now(UTC) + timedelta(minutes=6)
    _, applier = receipt_consumer(redis, isolation, scheduler_db, clock=lambda: later)
    await apply_waiting(redis, isolation, scheduler_db)
    keys = BusKeys(isolation.rstrip("_"))
    assert await list_dead_letters(redis, keys) == []  # kept first, not dropped
    waiting = WaitingReceipts(redis, keys, timedelta(minutes=5))
    assert await waiting.count() == 1
    await applier.retry_waiting()  # six minutes on: past the five-minute bound
    [dead] = await list_dead_letters(redis, keys)
    assert dead.reason == "no message matches this twilio receipt after 300 s"
    assert dead.type == "ReceiptsReceived.v1"
    assert await waiting.count() == 0
    assert await rows(scheduler_db) == [("sent", None)]


@SECRETS
async def test_a_redelivered_batch_changes_nothing(
    scheduler_db: Database, access_db: Database, redis: Redis, isolation: str
) -> None:
    [message_id] = await sent_messages(scheduler_db, access_db, 1)
    failed = StatusUpdate("P0", FAILED, "30003", message_id=message_id)
    await enqueue(publisher(redis, isolation), "twilio", [failed])
    stream = BusKeys(isolation.rstrip("_")).stream("ReceiptsReceived")
    [(_entry, fields)] = await redis.xrange(stream)
    before = await resends(scheduler_db)
    await apply_waiting(redis, isolation, scheduler_db)
    applied = await rows(scheduler_db)
    assert applied == [("queued", "twilio undelivered (error 30003): trying wechat")]
    await redis.xadd(stream, fields)  # the same bus message again, as a redelivery brings it
    await apply_waiting(redis, isolation, scheduler_db)
    assert await rows(scheduler_db) == applied  # not failed by its own receipt's second copy
    assert await resends(scheduler_db) == before + 1


@SECRETS
async def test_the_fallback_waits_for_receipts_still_in_the_stream(
    scheduler_db: Database, access_db: Database, redis: Redis, isolation: str
) -> None:
    [message_id] = await sent_messages(scheduler_db, access_db, 1)
    keys = BusKeys(isolation.rstrip("_"))
    start = datetime.now(UTC)
    async with scheduler_db.transaction() as session:
        await session.execute(
            update(Message).values(
                updated_at=start - timedelta(minutes=1), expires_at=start + timedelta(hours=2)
            )
        )
    # Its receipt came a minute after the send; the worker then stalled for half an hour.
    delivered = StatusUpdate("P0", DELIVERED, message_id=message_id)
    await enqueue(publisher(redis, isolation), "twilio", [delivered])
    stalled = start + timedelta(minutes=31)
    until = await applied_until(redis, keys, stalled)
    assert start - timedelta(seconds=5) <= until <= datetime.now(UTC)
    wait = timedelta(minutes=30)
    moved = await fall_back_without_receipt(
        scheduler_db, stalled, wait, receipts_applied_until=until
    )
    assert (moved, await rows(scheduler_db)) == (0, [("sent", None)])
    await apply_waiting(redis, isolation, scheduler_db)
    assert await rows(scheduler_db) == [("delivered", None)]
    # With nothing waiting, a message with no receipt does fall back.
    async with scheduler_db.transaction() as session:
        await session.execute(update(Message).values(state="sent"))
    assert await applied_until(redis, keys, stalled) == stalled
    moved = await fall_back_without_receipt(
        scheduler_db, stalled, wait, receipts_applied_until=stalled
    )
    assert moved == 1
    async with scheduler_db.sessions() as session:
        assert (await session.scalar(select(Message.state))) == "queued"


async def _sent_at(db: Database, ages: dict[str, timedelta], now: datetime) -> None:
    async with db.transaction() as session:
        for message_id, age in ages.items():
            await session.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(updated_at=now - age, expires_at=now + timedelta(hours=3))
            )


@SECRETS
async def test_the_fallback_waits_until_receipts_for_later_sends_have_come(
    scheduler_db: Database, access_db: Database, redis: Redis, isolation: str
) -> None:
    """Receipts also wait before the stream (at the provider, in a starved API): a message
    counts as without a receipt only once receipts for messages sent after it on its
    channel have been applied."""
    first, later = await sent_messages(scheduler_db, access_db, 2)
    keys, now, wait = BusKeys(isolation.rstrip("_")), datetime.now(UTC), timedelta(minutes=30)
    await _sent_at(scheduler_db, {first: timedelta(minutes=40), later: timedelta(minutes=35)}, now)

    async def sweep() -> int:
        heard = await heard_until(redis, keys)
        return await fall_back_without_receipt(
            scheduler_db, now, wait, receipts_applied_until=now, receipts_heard_until=heard
        )

    assert await heard_until(redis, keys) == {}
    assert await sweep() == 0  # nothing came back yet: late, not lost
    delivered = StatusUpdate("P1", DELIVERED, message_id=later)
    await enqueue(publisher(redis, isolation), "twilio", [delivered])
    await apply_waiting(redis, isolation, scheduler_db)
    heard = await heard_until(redis, keys)
    assert set(heard) == {"sms"}
    assert abs(heard["sms"] - (now - timedelta(minutes=35))) < timedelta(milliseconds=2)
    assert await sweep() == 1  # a later send's receipt came back, the first one's did not
    async with scheduler_db.sessions() as session:
        states = dict((await session.execute(select(Message.id, Message.state))).all())
    assert states == {first: "queued", later: "delivered"}


@SECRETS
async def test_with_no_receipt_heard_the_fallback_acts_at_twice_its_wait(
    scheduler_db: Database, access_db: Database, redis: Redis, isolation: str
) -> None:
    old, young = await sent_messages(scheduler_db, access_db, 2)
    keys, now, wait = BusKeys(isolation.rstrip("_")), datetime.now(UTC), timedelta(minutes=30)
    await _sent_at(scheduler_db, {old: timedelta(minutes=61), young: timedelta(minutes=59)}, now)
    moved = await fall_back_without_receipt(
        scheduler_db,
        now,
        wait,
        receipts_applied_until=now,
        receipts_heard_until=await heard_until(redis, keys),
    )
    async with scheduler_db.sessions() as session:
        states = dict((await session.execute(select(Message.id, Message.state))).all())
    assert (moved, states) == (1, {old: "queued", young: "sent"})


@SECRETS
async def test_a_repeated_failure_does_not_end_the_fallback_it_started(
    scheduler_db: Database, access_db: Database
) -> None:
    """Providers repeat callbacks, and a failed send's `sent` can come after its failure:
    once a failure has queued the message for its next channel, neither ends that try. A
    late `delivered` for the same send still settles it (the fallback is then not needed)."""
    failing, settled = await sent_messages(scheduler_db, access_db, 2)
    now = datetime.now(UTC)
    for message_id, provider_id in ((failing, "P0"), (settled, "P1")):
        failed = StatusUpdate(provider_id, FAILED, "30003", message_id=message_id)
        assert await apply_receipt(scheduler_db, failed, "twilio", now) == "undelivered"
    again = [
        StatusUpdate("P0", FAILED, "30003", message_id=failing),
        StatusUpdate("P0", ReceiptState.FAILED, "30005", message_id=failing),
        StatusUpdate("P0", SENT, message_id=failing),
    ]
    outcomes = [await apply_receipt(scheduler_db, u, "twilio", now) for u in again]
    assert outcomes == ["fallback_under_way"] * 3
    late = StatusUpdate("P1", DELIVERED, message_id=settled)
    assert await apply_receipt(scheduler_db, late, "twilio", now) == "delivered"
    assert await rows(scheduler_db) == [
        ("queued", "twilio undelivered (error 30003): trying wechat"),
        ("delivered", None),
    ]


@SECRETS
async def test_a_fallback_sends_receipt_that_overtakes_its_record_is_kept(
    scheduler_db: Database, access_db: Database
) -> None:
    """The next channel's send is in flight (`sending`, the failed send's id still on the
    row) when its own receipt comes: kept as not yet matched, and applied once the send's
    outcome is recorded, not dropped as another send's."""
    [message_id] = await sent_messages(scheduler_db, access_db, 1)
    now = datetime.now(UTC)
    failed = StatusUpdate("P0", FAILED, "30003", message_id=message_id)
    assert await apply_receipt(scheduler_db, failed, "twilio", now) == "undelivered"
    async with scheduler_db.transaction() as session:  # the dispatcher claims it again
        await session.execute(update(Message).values(state="sending"))
    ahead = StatusUpdate("W1", DELIVERED, message_id=message_id)
    assert await apply_receipt(scheduler_db, ahead, "wechat", now) == "unknown_message"
    stale = StatusUpdate("P0", FAILED, "30003", message_id=message_id)
    assert await apply_receipt(scheduler_db, stale, "twilio", now) == "fallback_under_way"
    async with scheduler_db.transaction() as session:  # the send's outcome is recorded
        await session.execute(
            update(Message).values(state="sent", channel="wechat", provider_id="W1")
        )
    assert await apply_receipt(scheduler_db, ahead, "wechat", now) == "delivered"
    assert await rows(scheduler_db) == [("delivered", None)]
