"""The scheduler worker's receipt consumer alone, for `mmt bench api --mix receipts`.

Wired as services/scheduler/worker.py wires it (the `ReceiptsReceived` handler, the batch
handler without the inbox, the kept-receipts tick every second), in its own process beside
the API, so the bench sees how long after the load the last receipt is applied and what
applying costs, without the planner's and dispatcher's ticks of a whole worker. Runs until
SIGTERM, then prints its peak memory as one JSON line (after a first line once it reads).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys

from mmt.bench.common import peak_rss_mb
from mmt.registry import load_service
from services.scheduler.receipt_worker import ReceiptApplier
from shared.bus import BusKeys, Inbox, StateGuarded, StreamConsumer
from shared.bus.connect import connect_redis
from shared.db import Database
from shared.heap import freeze_startup_heap
from shared.logging import configure_logging
from shared.messages import ReceiptsReceived
from shared.settings import BusSettings


async def _run(database_url: str, redis_url: str, prefix: str) -> None:
    configure_logging("bench", "WARNING")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    db = Database(database_url, "scheduler", schema_prefix=prefix)
    redis = connect_redis(redis_url)
    keys, bus = BusKeys(prefix.rstrip("_")), BusSettings()
    applier = ReceiptApplier(db, redis, keys)
    consumer = StreamConsumer(
        redis,
        keys,
        group="scheduler",
        consumer=f"r{os.getpid()}",
        handlers={ReceiptsReceived: applier.handle},
        inbox=Inbox(db, load_service("scheduler").processed_model),
        batch_size=bus.bus_batch_size,
        block_ms=min(bus.bus_block_ms, 100),  # so the run notices its end promptly
        batch_handlers={ReceiptsReceived: StateGuarded(applier.handle_batch)},
    )
    await consumer.ensure_groups()
    freeze_startup_heap()
    print(json.dumps({"ready": True}), flush=True)  # the bench starts its load after this

    async def retry() -> None:
        while not stop.is_set():
            await applier.retry_waiting()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)

    async def consume() -> None:
        while not stop.is_set():
            await consumer.poll_once()

    try:
        await asyncio.gather(consume(), retry())
    finally:
        await redis.aclose()
        await db.dispose()
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}), flush=True)


if __name__ == "__main__":
    # argv: DATABASE_URL REDIS_URL SCHEMA_PREFIX
    asyncio.run(_run(*sys.argv[1:4]))
