"""One scheduler worker's share of `mmt bench dispatch`: the planner's release tick, the
outbox relay tick and the SendMessage consumer, as concurrent tasks of one process, wired
as services/scheduler/worker.py wires them but with the real Twilio adapter pointed at the
fake provider.

The benchmark runs one in its own process and, with `--workers K`, K - 1 more as child
processes (`python -m mmt.bench.worker`): replicas share the work through
FOR UPDATE SKIP LOCKED and the consumer group, as deployed workers do. A child runs until
SIGTERM and then prints its peak memory as one JSON line.

With `Receipts` (`mmt bench morning`) a worker also asks the fake for status callbacks at
the scheduler API, applies the receipts the API puts on the stream (batch handler, the
kept receipts' tick) and runs the missing-receipt fallback sweep, as a deployed worker
does; it counts the second reminders that sweep sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from mmt.bench.cn_sms import CN_SMS
from mmt.bench.common import peak_rss_mb, twilio_channel, wechat_channel
from mmt.registry import load_service
from services.scheduler import planner
from services.scheduler.dispatch import BatchDispatcher, Dispatcher
from services.scheduler.receipt_stream import applied_until, heard_until
from services.scheduler.receipt_worker import ReceiptApplier
from services.scheduler.settings import SchedulerSettings
from services.scheduler.sweeps import fall_back_without_receipt
from shared.bus import (
    BatchHandler,
    BusKeys,
    Handler,
    Inbox,
    OutboxRelay,
    Publisher,
    StateGuarded,
    StreamConsumer,
)
from shared.bus.connect import connect_redis
from shared.channels import Channel, ChannelRegistry
from shared.crypto import IdentifierCipher, IdentifierSettings
from shared.db import Database
from shared.heap import freeze_startup_heap
from shared.logging import configure_logging
from shared.messages import Message, ReceiptsReceived, SendMessage
from shared.settings import BusSettings, ServiceSettings

Tick = Callable[[], Awaitable[object]]
FALLBACK_EVERY_S = 5.0  # as the deployed worker's housekeeping tick


@dataclass(frozen=True)
class Receipts:
    """A worker that takes receipts: where callbacks go, and the fallback's wait."""

    callback_base: str  # the scheduler API's URL
    fallback_wait: timedelta


async def run_worker(
    db: Database,
    redis: Redis,
    bus_prefix: str,
    provider_url: str,
    cipher: IdentifierCipher,
    stop: asyncio.Event,
    *,
    name: str,
    batch: bool = True,
    channel_code: str = "sms",
    receipts: Receipts | None = None,
) -> dict[str, int]:
    """Release, relay and dispatch until `stop` is set, through the Twilio adapter (`sms`),
        the WeChat one (`wechat`; the access token shared in Redis, as deployed), or Aliyun's or
        Tencent's (`aliyun`, `tencent`: serving the `sms` code). Returns what it counted:
    `fallbacks`, the messages the missing-receipt sweep sent again (with `receipts`)."""
    definition = load_service("scheduler")
    config, bus = SchedulerSettings(), BusSettings()
    channel: Channel
    if channel_code in CN_SMS:
        channel = CN_SMS[channel_code][1](provider_url)
    elif channel_code == "wechat":
        channel = wechat_channel(provider_url, redis, bus_prefix)
    else:
        channel = twilio_channel(
            provider_url, status_callback_base=receipts.callback_base if receipts else None
        )
    dispatcher = Dispatcher(db, cipher, ChannelRegistry([channel]), None)
    keys = BusKeys(bus_prefix)
    handlers: dict[type[Message], Handler] = {SendMessage: dispatcher.handle}
    batch_handlers: dict[type[Message], BatchHandler | StateGuarded] = {}
    if batch:
        batch_handlers[SendMessage] = StateGuarded(BatchDispatcher(dispatcher).handle)
    applier = ReceiptApplier(db, redis, keys)
    if receipts:
        handlers[ReceiptsReceived] = applier.handle
        batch_handlers[ReceiptsReceived] = StateGuarded(applier.handle_batch)
    consumer = StreamConsumer(
        redis,
        keys,
        group="scheduler",
        consumer=name,
        handlers=handlers,
        inbox=Inbox(db, definition.processed_model),
        batch_size=bus.bus_batch_size,
        block_ms=min(bus.bus_block_ms, 100),  # so a run notices its end promptly
        concurrency=bus.bus_concurrency,
        batch_handlers=batch_handlers or None,
    )
    await consumer.ensure_groups()
    if ServiceSettings().gc_freeze:
        freeze_startup_heap()  # as shared.worker.run_worker does before serving
    relay = OutboxRelay(db, redis, keys, definition.outbox_model, service="scheduler")
    publisher = Publisher(redis, keys)

    async def every(interval_s: float, tick: Tick) -> None:
        while not stop.is_set():
            await tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    async def release() -> None:
        while True:  # drain what is due, as the worker's tick does
            released = await planner.release_due(db, config, datetime.now(UTC), publisher.publish)
            if released.queued + sum(released.held.values()) < config.release_batch_size:
                return

    async def consume() -> None:
        while not stop.is_set():
            await consumer.poll_once()

    counted = {"fallbacks": 0}

    async def fall_back() -> None:
        assert receipts is not None
        now = datetime.now(UTC)
        counted["fallbacks"] += await fall_back_without_receipt(
            db,
            now,
            receipts.fallback_wait,
            receipts_applied_until=await applied_until(redis, keys, now),
            receipts_heard_until=await heard_until(redis, keys),
        )

    ticks = [
        every(config.planner_interval_s, release),
        every(bus.outbox_interval_s, relay.relay_once),
        consume(),
    ]
    if receipts:
        ticks += [every(1.0, applier.retry_waiting), every(FALLBACK_EVERY_S, fall_back)]
    try:
        await asyncio.gather(*ticks)
    finally:
        await channel.aclose()
    return counted


async def _child(
    database_url: str,
    redis_url: str,
    prefix: str,
    provider_url: str,
    channel_code: str,
    callback_base: str = "",
    fallback_wait_s: str = "0",
) -> None:
    configure_logging("bench", "WARNING")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    db = Database(database_url, "scheduler", schema_prefix=prefix, pool_size=20)
    redis = connect_redis(redis_url)
    cipher = IdentifierCipher.from_settings(IdentifierSettings())
    receipts = (
        Receipts(callback_base, timedelta(seconds=float(fallback_wait_s)))
        if callback_base
        else None
    )
    # Imported and connected: what a bench waits for before the reminders fall due.
    print(json.dumps({"ready": True}), flush=True)
    try:
        counted = await run_worker(
            db,
            redis,
            prefix.rstrip("_"),
            provider_url,
            cipher,
            stop,
            name=f"w{os.getpid()}",
            channel_code=channel_code,
            receipts=receipts,
        )
    finally:
        await redis.aclose()
        await db.dispose()
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), **counted}), flush=True)


if __name__ == "__main__":
    # argv: DATABASE_URL REDIS_URL SCHEMA_PREFIX PROVIDER_URL CHANNEL
    # [CALLBACK_BASE FALLBACK_WAIT_S]; keys come in the environment.
    asyncio.run(_child(*sys.argv[1:8]))
