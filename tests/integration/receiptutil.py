"""The scheduler worker's receipt path for tests: webhooks only enqueue, so a test that
checks what a receipt did first lets the worker's consumer apply the stream."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from services.scheduler.definition import SERVICE
from services.scheduler.receipt_stream import GROUP, applied_until
from services.scheduler.receipt_worker import WAITING_BOUND, ReceiptApplier
from shared.bus import BusKeys, Inbox, StateGuarded, StreamConsumer
from shared.db import Database
from shared.messages import ReceiptsReceived


def receipt_consumer(
    redis: Redis,
    prefix: str,
    db: Database,
    *,
    bound: timedelta = WAITING_BOUND,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    name: str = "test-receipts",
) -> tuple[StreamConsumer, ReceiptApplier]:
    """The worker's consumer of receipts (its handlers, batch handler and inbox)."""
    keys = BusKeys(prefix.rstrip("_"))
    applier = ReceiptApplier(db, redis, keys, bound=bound, clock=clock)
    consumer = StreamConsumer(
        redis,
        keys,
        group=GROUP,
        consumer=name,
        handlers={ReceiptsReceived: applier.handle},
        inbox=Inbox(db, SERVICE.processed_model),
        batch_handlers={ReceiptsReceived: StateGuarded(applier.handle_batch)},
        block_ms=10,
    )
    return consumer, applier


async def apply_waiting(redis: Redis, prefix: str, db: Database) -> None:
    """Let the worker apply every receipt in the stream; returns once none waits there."""
    consumer, _ = receipt_consumer(redis, prefix, db)
    await consumer.ensure_groups()
    while await consumer.poll_once():
        pass
    now = datetime.now(UTC)
    assert await applied_until(redis, BusKeys(prefix.rstrip("_")), now) == now
