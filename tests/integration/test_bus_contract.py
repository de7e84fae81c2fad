"""The bus's promises, on the real PostgreSQL and Redis.

At-least-once delivery, acknowledgement only after the handler's transaction, reclaim
from a consumer killed with SIGKILL, dead letters after N deliveries (and replay), garbled
payloads dead-lettered without blocking, idempotent redelivery, outbox atomicity, and
outbox replay after Redis loses everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.bus import (
    BusKeys,
    StateGuarded,
    add_to_outbox,
    encode,
    list_dead_letters,
    replay_dead_letter,
    trim_stream,
)
from shared.bus.connect import connect_redis
from shared.db import Database
from shared.diagnostics import probe_handler
from shared.messages import BusProbeSent
from shared.metrics import BUS_MESSAGES
from shared.service import ServiceDefinition
from tests.conftest import Backends, free_port, wait_for_port
from tests.integration.busutil import (
    consume_until,
    make_consumer,
    make_relay,
    processed_count,
    received_ids,
    stage_probes,
)

ROOT = Path(__file__).parents[2]


@pytest.fixture(params=["redis-server", "embedded"])
def redis_kind(request: pytest.FixtureRequest) -> str:
    """Every contract runs on real Redis and on the embedded server `mmt up` falls back to."""
    return str(request.param)


@pytest.fixture
def redis_url(redis_kind: str, backends: Backends) -> Iterator[str]:
    if redis_kind == "redis-server":
        yield backends.redis_url
        return
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mmt.fake_redis", "--port", str(port)])
    wait_for_port(port, 15)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def wipeable_redis_url(redis_kind: str, redis_url: str, request: pytest.FixtureRequest) -> str:
    """A server this test may FLUSHALL: never the shared one."""
    if redis_kind == "embedded":
        return redis_url
    return str(request.getfixturevalue("private_redis_url"))


@pytest.fixture
def keys(isolation: str) -> BusKeys:
    return BusKeys(isolation.rstrip("_"))


async def pending(redis: Redis, keys: BusKeys, group: str = "scheduler") -> int:
    """Entries the group holds unacknowledged; -1 while the group does not exist (yet)."""
    try:
        summary = await redis.xpending(keys.stream("BusProbeSent"), group)
    except (ResponseError, RedisConnectionError):  # fakeredis hangs up after an error reply
        return -1
    return int(summary["pending"])


async def test_every_outbox_event_reaches_the_other_service(
    redis: Redis,
    keys: BusKeys,
    content_db: Database,
    scheduler_db: Database,
    content: ServiceDefinition,
    scheduler: ServiceDefinition,
) -> None:
    events = await stage_probes(content_db, content, 50)
    consumer = make_consumer(redis, keys, scheduler_db, scheduler)
    await consumer.ensure_groups()

    assert await make_relay(content_db, redis, keys, content, batch_size=20).relay_once() == 50

    expected = {str(e.id) for e in events}
    await consume_until(consumer, lambda: received_ids(scheduler_db, scheduler))
    await consume_until(consumer, lambda: _equals(received_ids(scheduler_db, scheduler), expected))
    assert await pending(redis, keys) == 0
    # A second relay pass finds nothing left to publish.
    assert await make_relay(content_db, redis, keys, content).relay_once() == 0


async def _equals(awaitable: object, expected: set[str]) -> bool:
    return await awaitable == expected  # type: ignore[misc]


async def test_a_rolled_back_change_publishes_nothing(
    redis: Redis,
    keys: BusKeys,
    content_db: Database,
    content: ServiceDefinition,
) -> None:
    class Boom(Exception):
        pass

    async def change_that_fails() -> None:
        async with content_db.transaction() as session:
            add_to_outbox(session, content.outbox_model, BusProbeSent(origin="content"))
            raise Boom

    with pytest.raises(Boom):
        await change_that_fails()

    assert await make_relay(content_db, redis, keys, content).relay_once() == 0
    assert await redis.exists(keys.stream("BusProbeSent")) == 0


async def test_a_failed_handler_is_retried_and_its_partial_work_rolled_back(
    redis: Redis,
    keys: BusKeys,
    content_db: Database,
    scheduler_db: Database,
    content: ServiceDefinition,
    scheduler: ServiceDefinition,
) -> None:
    [event] = await stage_probes(content_db, content, 1)
    await make_relay(content_db, redis, keys, content).relay_once()
    record = probe_handler(scheduler.probe_model)
    calls = 0

    async def flaky(message: BusProbeSent, session: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        await record(message, session)  # written, then rolled back by the failure below
        await session.flush()
        if calls == 1:
            raise RuntimeError("database hiccup")

    consumer = make_consumer(redis, keys, scheduler_db, scheduler, handler=flaky)
    await consumer.ensure_groups()
    await consumer.poll_once()
    assert calls == 1
    assert await received_ids(scheduler_db, scheduler) == set()
    assert await pending(redis, keys) == 1  # not acknowledged: the transaction failed

    await consume_until(consumer, lambda: calls >= 2)
    assert await received_ids(scheduler_db, scheduler) == {str(event.id)}
    assert await pending(redis, keys) == 0


async def test_redelivered_and_duplicated_messages_take_effect_once(
    redis: Redis,
    keys: BusKeys,
    scheduler_db: Database,
    scheduler: ServiceDefinition,
) -> None:
    event = BusProbeSent(origin="content")
    consumer = make_consumer(redis, keys, scheduler_db, scheduler)
    await consumer.ensure_groups()
    for _ in range(3):  # e.g. a relay that published, crashed before stamping, published again
        await redis.xadd(keys.stream("BusProbeSent"), encode(event))

    duplicates = BUS_MESSAGES.labels("scheduler", "BusProbeSent.v1", "duplicate")
    before = duplicates._value.get()

    await consume_until(consumer, lambda: _all_acknowledged(redis, keys))
    assert await received_ids(scheduler_db, scheduler) == {str(event.id)}
    assert await processed_count(scheduler_db, scheduler) == 1
    assert duplicates._value.get() - before == 2  # counted, so ops can see redelivery


async def _all_acknowledged(redis: Redis, keys: BusKeys, group: str = "scheduler") -> bool:
    """Every entry in the stream was delivered to the group and acknowledged."""
    stream = keys.stream("BusProbeSent")
    try:
        last = (await redis.xinfo_stream(stream))["last-generated-id"]
        groups = await redis.xinfo_groups(stream)
    except (ResponseError, RedisConnectionError):  # no stream or group yet
        return False
    return any(
        g["name"].decode() == group and g["pending"] == 0 and g["last-delivered-id"] == last
        for g in groups
    )


async def test_entries_of_a_consumer_killed_with_sigkill_are_reclaimed(
    redis: Redis,
    keys: BusKeys,
    redis_url: str,
    backends: Backends,
    isolation: str,
    content_db: Database,
    scheduler_db: Database,
    content: ServiceDefinition,
    scheduler: ServiceDefinition,
) -> None:
    events = await stage_probes(content_db, content, 20)
    survivor = make_consumer(
        redis, keys, scheduler_db, scheduler, name="survivor", claim_idle_ms=300
    )
    await survivor.ensure_groups()
    await make_relay(content_db, redis, keys, content).relay_once()

    doomed = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.hanging_consumer",
            redis_url,
            keys.prefix,
            backends.database_url,
            isolation,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert doomed.stdout is not None
        assert doomed.stdout.readline().strip() == b"handling"
        assert await pending(redis, keys) == 20  # all 20 taken by the doomed consumer
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        if doomed.stdout is not None:
            doomed.stdout.close()

    expected = {str(e.id) for e in events}
    await consume_until(survivor, lambda: _equals(received_ids(scheduler_db, scheduler), expected))
    assert await pending(redis, keys) == 0


async def test_poison_messages_go_to_dead_letters_with_the_reason_and_can_be_replayed(
    redis: Redis,
    keys: BusKeys,
    scheduler_db: Database,
    scheduler: ServiceDefinition,
) -> None:
    event = BusProbeSent(origin="content")
    broken = True
    record = probe_handler(scheduler.probe_model)

    async def fails_until_fixed(message: BusProbeSent, session: AsyncSession) -> None:
        if broken:
            raise ValueError("template missing for +8613812345678")
        await record(message, session)

    consumer = make_consumer(
        redis,
        keys,
        scheduler_db,
        scheduler,
        handler=fails_until_fixed,
        claim_idle_ms=50,
        max_deliveries=3,
    )
    await consumer.ensure_groups()
    await redis.xadd(keys.stream("BusProbeSent"), encode(event))

    await consume_until(consumer, lambda: redis.xlen(keys.dead_letters))
    [letter] = await list_dead_letters(redis, keys)
    assert letter.group == "scheduler"
    assert letter.type == "BusProbeSent.v1"
    assert letter.deliveries == 4
    assert "failed 3 deliveries" in letter.reason
    assert "ValueError: template missing" in letter.reason
    assert "13812345678" not in letter.reason  # health data never reaches the reason
    assert await pending(redis, keys) == 0

    broken = False
    await replay_dead_letter(redis, keys, letter.id)
    assert await redis.xlen(keys.dead_letters) == 0
    await consume_until(consumer, lambda: received_ids(scheduler_db, scheduler))
    assert await received_ids(scheduler_db, scheduler) == {str(event.id)}


async def test_garbled_and_unknown_payloads_are_dead_lettered_without_blocking_the_rest(
    redis: Redis,
    keys: BusKeys,
    scheduler_db: Database,
    scheduler: ServiceDefinition,
) -> None:
    stream = keys.stream("BusProbeSent")
    consumer = make_consumer(redis, keys, scheduler_db, scheduler)
    await consumer.ensure_groups()
    good = BusProbeSent(origin="content")
    await redis.xadd(stream, {"type": "BusProbeSent.v1", "m": b"{not json"})
    await redis.xadd(stream, {"type": "BusProbeSent.v9", "m": b'{"type": "BusProbeSent.v9"}'})
    await redis.xadd(stream, {"hello": "world"})
    await redis.xadd(stream, encode(good))

    await consume_until(consumer, lambda: received_ids(scheduler_db, scheduler))
    letters = await list_dead_letters(redis, keys)
    reasons = sorted(letter.reason for letter in letters)
    assert len(letters) == 3
    assert reasons[0] == "entry has no 'm' field"
    assert all(r.startswith("undecodable payload") for r in reasons[1:])
    assert await received_ids(scheduler_db, scheduler) == {str(good.id)}
    assert await pending(redis, keys) == 0


async def test_outbox_is_published_again_after_redis_loses_everything(
    wipeable_redis_url: str,
    isolation: str,
    content_db: Database,
    scheduler_db: Database,
    content: ServiceDefinition,
    scheduler: ServiceDefinition,
) -> None:
    redis = connect_redis(wipeable_redis_url)
    keys = BusKeys(isolation.rstrip("_"))
    try:
        first = await stage_probes(content_db, content, 10)
        consumer = make_consumer(redis, keys, scheduler_db, scheduler)
        await consumer.ensure_groups()
        relay = make_relay(content_db, redis, keys, content)
        await relay.relay_once()
        # The consumer handles some, then Redis is wiped with the rest in the stream.
        await consumer.poll_once()
        handled_before = await received_ids(scheduler_db, scheduler)
        assert handled_before == {str(e.id) for e in first}
        second = await stage_probes(content_db, content, 10)
        await relay.relay_once()

        await redis.flushall()

        assert await relay.relay_once() == 20  # the whole window again
        await consume_until(consumer, lambda: _all_acknowledged(redis, keys), timeout_s=10)
        await consume_until(
            consumer,
            lambda: _equals(
                received_ids(scheduler_db, scheduler), {str(e.id) for e in first + second}
            ),
        )
        assert await processed_count(scheduler_db, scheduler) == 20  # each exactly once
    finally:
        await redis.aclose()


async def test_trimming_keeps_pending_and_undelivered_entries(
    redis: Redis,
    keys: BusKeys,
    scheduler_db: Database,
    scheduler: ServiceDefinition,
) -> None:
    stream = keys.stream("BusProbeSent")

    async def fail(_message: BusProbeSent, _session: AsyncSession) -> None:
        raise RuntimeError("not now")

    healthy = make_consumer(redis, keys, scheduler_db, scheduler)
    failing = make_consumer(redis, keys, scheduler_db, scheduler, handler=fail, name="failing")
    await healthy.ensure_groups()

    async def add(n: int) -> list[str]:
        return [
            (await redis.xadd(stream, encode(BusProbeSent(origin="c")))).decode() for _ in range(n)
        ]

    await add(5)
    await healthy.poll_once()  # handled and acknowledged: may go
    stuck = await add(2)
    await failing.poll_once()  # read but failed: pending, must stay
    late = await add(3)  # never delivered: must stay
    later_ms = int(time.time() * 1000) + 60_000

    await trim_stream(redis, stream, keep_ms=0, now_ms=later_ms, approximate=False)
    remaining = [entry_id.decode() for entry_id, _ in await redis.xrange(stream)]
    assert remaining == stuck + late

    # A group that has read nothing yet holds everything back.
    await redis.xgroup_create(stream, "laggard", id="0")
    await trim_stream(redis, stream, keep_ms=0, now_ms=later_ms, approximate=False)
    assert [e.decode() for e, _ in await redis.xrange(stream)] == stuck + late


async def test_a_batch_handler_takes_a_read_batch_in_one_transaction_and_falls_back_one_by_one(
    redis: Redis,
    keys: BusKeys,
    scheduler_db: Database,
    scheduler: ServiceDefinition,
) -> None:
    record = probe_handler(scheduler.probe_model)
    batches: list[int] = []

    async def in_one_go(messages: list[BusProbeSent], session: AsyncSession) -> None:
        batches.append(len(messages))
        if any(m.note == "poison" for m in messages):
            raise ValueError("one bad apple")
        for message in messages:
            await record(message, session)

    async def one(message: BusProbeSent, session: AsyncSession) -> None:
        if message.note == "poison":
            raise ValueError("still bad")
        await record(message, session)

    consumer = make_consumer(
        redis, keys, scheduler_db, scheduler, handler=one, claim_idle_ms=50, max_deliveries=1
    )
    consumer.batch_handlers = {BusProbeSent: in_one_go}
    await consumer.ensure_groups()
    good = [BusProbeSent(origin="content", note=str(i)) for i in range(10)]
    for event in [*good, good[0]]:  # a duplicate in the same batch is handled once
        await redis.xadd(keys.stream("BusProbeSent"), encode(event))
    await consumer.poll_once()
    assert batches == [10]
    assert await received_ids(scheduler_db, scheduler) == {str(e.id) for e in good}
    assert await processed_count(scheduler_db, scheduler) == 10

    poison = BusProbeSent(origin="content", note="poison")
    fine = BusProbeSent(origin="content", note="fine")
    for event in (poison, fine):
        await redis.xadd(keys.stream("BusProbeSent"), encode(event))
    await consumer.poll_once()  # the batch fails; one by one, `fine` goes through
    assert str(fine.id) in await received_ids(scheduler_db, scheduler)
    await consume_until(consumer, lambda: redis.xlen(keys.dead_letters))
    [letter] = await list_dead_letters(redis, keys)
    assert "still bad" in letter.reason


async def test_a_state_guarded_batch_handler_runs_without_the_inbox(
    redis: Redis,
    keys: BusKeys,
    scheduler_db: Database,
    scheduler: ServiceDefinition,
) -> None:
    """Its own state makes a redelivery harmless, so the consumer writes no processed ids;
    each id still reaches it once per batch, and a failing batch still goes one by one."""
    record = probe_handler(scheduler.probe_model)
    batches: list[list[str]] = []

    async def guarded(messages: list[BusProbeSent], session: AsyncSession) -> None:
        batches.append([str(m.id) for m in messages])
        if any(m.note == "poison" for m in messages):
            raise ValueError("one bad apple")
        done = await received_ids(scheduler_db, scheduler)  # the handler's own state
        for message in messages:
            if str(message.id) not in done:
                await record(message, session)

    consumer = make_consumer(redis, keys, scheduler_db, scheduler, handler=record)
    consumer.batch_handlers = {BusProbeSent: StateGuarded(guarded)}
    await consumer.ensure_groups()
    good = [BusProbeSent(origin="content", note=str(i)) for i in range(5)]
    for event in [*good, good[0], *good[:2]]:  # in-batch duplicates, then a redelivery
        await redis.xadd(keys.stream("BusProbeSent"), encode(event))
    await consumer.poll_once()
    assert batches == [[str(e.id) for e in good]]
    assert await received_ids(scheduler_db, scheduler) == {str(e.id) for e in good}
    assert await processed_count(scheduler_db, scheduler) == 0
    assert await redis.xpending(keys.stream("BusProbeSent"), "scheduler") == {
        "pending": 0, "min": None, "max": None, "consumers": []
    }  # fmt: skip

    for event in good[:2]:  # a redelivery in a batch of its own changes nothing
        await redis.xadd(keys.stream("BusProbeSent"), encode(event))
    await consumer.poll_once()
    assert len(batches) == 2
    assert await received_ids(scheduler_db, scheduler) == {str(e.id) for e in good}

    fine = BusProbeSent(origin="content", note="fine")
    for event in (BusProbeSent(origin="content", note="poison"), fine):
        await redis.xadd(keys.stream("BusProbeSent"), encode(event))
    await consumer.poll_once()  # the batch fails; one by one (inbox and all), `fine` lands
    assert str(fine.id) in await received_ids(scheduler_db, scheduler)
    assert await processed_count(scheduler_db, scheduler) == 2  # both, through the inbox


# Real Redis only: the embedded fakeredis server hangs up after an error reply.
@pytest.mark.parametrize("redis_kind", ["redis-server"], indirect=True)
async def test_replaying_an_unknown_or_malformed_dead_letter_says_so(
    redis: Redis,
    keys: BusKeys,
) -> None:
    for bad in ("0-1", "not-an-id"):
        with pytest.raises(KeyError):
            await replay_dead_letter(redis, keys, bad)
