"""A consumer and FLUSHALL: Redis wiped while the consumer is blocked in a read, or between
its start's group creation and its first read. Each of these used to end the worker; both
were found by chaos runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from shared.bus import BusKeys, OutboxRelay, StreamConsumer
from shared.db import Database
from shared.service import ServiceDefinition
from tests.integration.busutil import make_consumer, make_relay, received_ids, stage_probes


@dataclass
class Wired:
    consumer: StreamConsumer
    relay: OutboxRelay
    wiper: Redis  # a second client, as an operator's FLUSHALL comes from elsewhere
    content_db: Database
    scheduler_db: Database
    content: ServiceDefinition
    scheduler: ServiceDefinition

    async def stage(self, n: int) -> set[str]:
        return {str(e.id) for e in await stage_probes(self.content_db, self.content, n)}

    async def received(self) -> set[str]:
        return await received_ids(self.scheduler_db, self.scheduler)


@pytest.fixture
async def wired(
    private_redis_url: str,
    isolation: str,
    content_db: Database,
    scheduler_db: Database,
    content: ServiceDefinition,
    scheduler: ServiceDefinition,
) -> AsyncIterator[Wired]:
    redis, wiper = Redis.from_url(private_redis_url), Redis.from_url(private_redis_url)
    keys = BusKeys(isolation.rstrip("_"))
    consumer = make_consumer(redis, keys, scheduler_db, scheduler)
    relay = make_relay(content_db, redis, keys, content)
    yield Wired(consumer, relay, wiper, content_db, scheduler_db, content, scheduler)
    await redis.aclose()
    await wiper.aclose()


async def _stopped(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.wait_for(task, timeout=10)


async def test_a_blocked_read_survives_flushall_and_the_replay_is_handled(wired: Wired) -> None:
    """Redis 7 answers a read blocked while the stream is deleted with UNBLOCKED."""
    wired.consumer.block_ms = 2000  # long enough to be surely blocked when the wipe comes
    stop = asyncio.Event()
    task = asyncio.create_task(wired.consumer.run(stop))
    try:
        expected = await wired.stage(3)
        await wired.relay.relay_once()
        await asyncio.sleep(0.5)  # handled, then blocked waiting for more
        await wired.wiper.flushall()
        await asyncio.sleep(0.5)
        assert not task.done(), task.exception() if task.done() else None
        expected |= await wired.stage(2)
        await wired.relay.relay_once()  # notices the wipe: publishes the window again
        for _ in range(100):
            if await wired.received() == expected:
                break
            await asyncio.sleep(0.1)
        assert await wired.received() == expected
        assert not task.done()
    finally:
        await _stopped(task, stop)


async def test_a_wipe_between_creating_the_groups_and_the_first_read_is_survived(
    wired: Wired,
) -> None:
    """A worker restarted just before a FLUSHALL: its groups were created, then wiped
    before it read its own pending entries; XREADGROUP answered NOGROUP there (a chaos run
    with the kill and the wipe seconds apart)."""
    created = wired.consumer.ensure_groups
    wipes = 0

    async def created_then_wiped() -> None:
        nonlocal wipes
        await created()
        if wipes == 0:
            wipes += 1
            await wired.wiper.flushall()

    wired.consumer.ensure_groups = created_then_wiped  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(wired.consumer.run(stop))
    try:
        expected = await wired.stage(2)
        for _ in range(100):
            await wired.relay.relay_once()
            if await wired.received() == expected or task.done():
                break
            await asyncio.sleep(0.1)
        assert not task.done(), task.exception() if task.done() else None
        assert wipes == 1
        assert await wired.received() == expected
    finally:
        await _stopped(task, stop)
