"""A consumer blocked in XREADGROUP when Redis is wiped: Redis 7 answers the blocked read
with UNBLOCKED (the stream is gone). That used to end the worker; found by the chaos run."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from shared.bus import BusKeys
from shared.db import Database
from shared.service import ServiceDefinition
from tests.integration.busutil import make_consumer, make_relay, received_ids, stage_probes


async def test_a_blocked_read_survives_flushall_and_the_replay_is_handled(
    private_redis_url: str,
    isolation: str,
    content_db: Database,
    scheduler_db: Database,
    content: ServiceDefinition,
    scheduler: ServiceDefinition,
) -> None:
    redis, wiper = Redis.from_url(private_redis_url), Redis.from_url(private_redis_url)
    keys = BusKeys(isolation.rstrip("_"))
    consumer = make_consumer(redis, keys, scheduler_db, scheduler)
    consumer.block_ms = 2000  # long enough to be surely blocked when the wipe comes
    relay = make_relay(content_db, redis, keys, content)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        first = await stage_probes(content_db, content, 3)
        await relay.relay_once()
        await asyncio.sleep(0.5)  # handled, then blocked waiting for more
        await wiper.flushall()
        await asyncio.sleep(0.5)
        assert not task.done(), task.exception() if task.done() else None
        second = await stage_probes(content_db, content, 2)
        await relay.relay_once()  # notices the wipe: publishes the window again
        expected = {str(e.id) for e in first + second}
        for _ in range(100):
            if await received_ids(scheduler_db, scheduler) == expected:
                break
            await asyncio.sleep(0.1)
        assert await received_ids(scheduler_db, scheduler) == expected
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        await redis.aclose()
        await wiper.aclose()
