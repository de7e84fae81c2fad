"""Small builders for bus tests: content publishes probes, scheduler consumes them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from redis.asyncio import Redis
from sqlalchemy import func, select

from shared.bus import BusKeys, Handler, Inbox, OutboxRelay, StreamConsumer, add_to_outbox
from shared.db import Database
from shared.diagnostics import probe_handler
from shared.messages import BusProbeSent
from shared.service import ServiceDefinition


async def stage_probes(db: Database, content: ServiceDefinition, n: int) -> list[BusProbeSent]:
    events = [BusProbeSent(origin="content", note=f"probe {i}") for i in range(n)]
    async with db.transaction() as session:
        add_to_outbox(session, content.outbox_model, *events)
    return events


def make_relay(
    db: Database, redis: Redis, keys: BusKeys, content: ServiceDefinition, **kwargs: int
) -> OutboxRelay:
    return OutboxRelay(db, redis, keys, content.outbox_model, service="content", **kwargs)


def make_consumer(
    redis: Redis,
    keys: BusKeys,
    db: Database,
    scheduler: ServiceDefinition,
    *,
    handler: Handler | None = None,
    name: str = "test-consumer",
    claim_idle_ms: int = 200,
    max_deliveries: int = 5,
) -> StreamConsumer:
    return StreamConsumer(
        redis,
        keys,
        group="scheduler",
        consumer=name,
        handlers={BusProbeSent: handler or probe_handler(scheduler.probe_model)},
        inbox=Inbox(db, scheduler.processed_model),
        block_ms=50,
        claim_idle_ms=claim_idle_ms,
        max_deliveries=max_deliveries,
    )


async def received_ids(db: Database, scheduler: ServiceDefinition) -> set[str]:
    model = scheduler.probe_model
    async with db.sessions() as session:
        return set((await session.execute(select(model.probe_id))).scalars())  # type: ignore[attr-defined]


async def processed_count(db: Database, scheduler: ServiceDefinition) -> int:
    model = scheduler.processed_model
    async with db.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())  # type: ignore[arg-type]


async def consume_until(
    consumer: StreamConsumer, done: Callable[[], object], timeout_s: float = 20.0
) -> None:
    """Run the consumer's real loop until `done()` is truthy (an awaitable is awaited)."""
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if task.done():
                task.result()  # the loop must never end by itself: surface why it did
                raise AssertionError("consumer loop ended before the condition was met")
            result = done()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"condition not met within {timeout_s}s")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
