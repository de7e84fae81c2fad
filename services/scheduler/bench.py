"""`mmt bench dispatch`: a burst of due reminders through the real planner, bus and
dispatcher on the configured PostgreSQL and Redis, in one process, with figures.

It works in a throwaway schema and key prefix, which it removes afterwards. The channel is
the console (no network), so the figures are the suite's own cost; the raw Redis Streams
rate of the same number of entries, measured in the same run, is the yardstick. The last
line printed is one JSON object.
"""

from __future__ import annotations

import os
import platform
import resource
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, insert, select

from services.scheduler import planner
from services.scheduler.dispatch import Dispatcher
from services.scheduler.dispatch_batch import BatchDispatcher
from services.scheduler.models import Message, Occurrence, Patient
from services.scheduler.settings import SchedulerSettings
from shared.bus import BusKeys, Inbox, OutboxRelay, StreamConsumer
from shared.channels import ChannelRegistry
from shared.channels.console import ConsoleChannel
from shared.crypto import IdentifierCipher, decode_hmac_key, generate_keys
from shared.db import Database
from shared.logging import configure_logging
from shared.messages import SendMessage
from shared.migrate import migrate
from shared.service import load_service

OPEN = ("queued", "sending")


async def _seed(db: Database, n: int, cipher: IdentifierCipher, now: datetime) -> None:
    phone = cipher.encrypt("+8613800138000")
    midnight = clock_time(0, 0)
    async with db.transaction() as session:
        for start in range(0, n, 5000):
            await session.execute(
                insert(Patient),
                [
                    {
                        "clinic_id": 1,
                        "clinic_number": f"B{i}",
                        "display_name": "B.",
                        "phone_enc": phone,
                        "phone_hash": "bench",
                        "channel_order": ["sms"],
                        "language": "zh-CN",
                        "time_zone": "Asia/Shanghai",
                        "dose_time": midnight,
                        "quiet_start": midnight,
                        "quiet_end": midnight,
                        "state": "active",
                        "consent_version": "bench",
                        "consent_at": now,
                        "consent_recorded_by": "bench",
                        "enrolled_at": now,
                        "updated_at": now,
                        "explicit_wording": False,
                    }
                    for i in range(start, min(start + 5000, n))
                ],
            )
        ids = (await session.execute(select(Patient.id))).scalars().all()
        for start in range(0, n, 5000):
            await session.execute(
                insert(Occurrence),
                [
                    {
                        "patient_id": pid,
                        "kind": "dose",
                        "local_date": now.date(),
                        "slot": "bench",
                        "due_at": now,
                        "expires_at": now + timedelta(hours=1),
                        "state": "planned",
                    }
                    for pid in ids[start : start + 5000]
                ],
            )


async def _raw_redis_rate(redis: Redis, prefix: str, n: int) -> float:
    """XADD + XREADGROUP + XACK of n entries the size of ours, pipelined: the yardstick."""
    stream, payload = f"{prefix}:yardstick", b"x" * 160
    await redis.xgroup_create(stream, "g", id="0", mkstream=True)
    started = time.perf_counter()
    for start in range(0, n, 500):
        pipe = redis.pipeline(transaction=False)
        for _ in range(min(500, n - start)):
            pipe.xadd(stream, {"type": b"SendMessage.v1", "m": payload})
        await pipe.execute()
    done = 0
    while done < n:
        response: Any = await redis.xreadgroup("g", "c", {stream: ">"}, count=500)
        ids = [entry_id for _, entries in response or [] for entry_id, _ in entries]
        if not ids:
            break
        await redis.xack(stream, "g", *ids)
        done += len(ids)
    return n / (time.perf_counter() - started)


async def bench_dispatch(
    database_url: str, redis_url: str, n: int, *, batch: bool
) -> dict[str, Any]:
    # Warnings only: per-message info lines would be most of what is measured.
    configure_logging("bench", "WARNING")
    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    db = Database(database_url, "scheduler", schema_prefix=prefix, pool_size=20)
    redis = Redis.from_url(redis_url)
    keys = generate_keys()
    cipher = IdentifierCipher(
        keys["IDENTIFIER_KEYS"].split(","), decode_hmac_key(keys["IDENTIFIER_HMAC_KEY"])
    )
    definition = load_service("scheduler")
    try:
        await migrate(db, definition.migrations)
        now = datetime.now(UTC)
        await _seed(db, n, cipher, now)
        bus = BusKeys(prefix.rstrip("_"))
        dispatcher = Dispatcher(db, cipher, ChannelRegistry([ConsoleChannel("sms")]), None)
        consumer = StreamConsumer(
            redis,
            bus,
            group="scheduler",
            consumer="bench",
            handlers={SendMessage: dispatcher.handle},
            inbox=Inbox(db, definition.processed_model),
            batch_size=500,
            block_ms=50,
            concurrency=16,
            batch_handlers={SendMessage: BatchDispatcher(dispatcher).handle} if batch else None,
        )
        await consumer.ensure_groups()
        relay = OutboxRelay(db, redis, bus, definition.outbox_model, service="scheduler")
        config = SchedulerSettings()
        started = time.perf_counter()
        while (await planner.release_due(db, config, datetime.now(UTC))).queued:
            pass
        released = time.perf_counter()
        await relay.relay_once(max_batches=100_000)
        relayed = time.perf_counter()
        while True:
            if await consumer.poll_once() == 0:
                async with db.sessions() as session:
                    left = (
                        await session.execute(
                            select(func.count()).select_from(Message).where(Message.state.in_(OPEN))
                        )
                    ).scalar_one()
                if left == 0:
                    break
        finished = time.perf_counter()
        async with db.sessions() as session:
            states = dict(
                (row[0], row[1])
                for row in await session.execute(
                    select(Message.state, func.count()).group_by(Message.state)
                )
            )
        raw = await _raw_redis_rate(redis, prefix.rstrip("_"), n)
        total = finished - started
        return {
            "benchmark": "dispatch",
            "reminders": n,
            "batch": batch,
            "states": states,
            "release_s": round(released - started, 3),
            "relay_s": round(relayed - released, 3),
            "dispatch_s": round(finished - relayed, 3),
            "total_s": round(total, 3),
            "per_second": round(n / total, 1),
            "dispatch_per_second": round(n / (finished - relayed), 1),
            "raw_redis_streams_per_second": round(raw, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "machine": {
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "redis": (await redis.info("server")).get("redis_version"),
            },
        }
    finally:
        keys_left = [key async for key in redis.scan_iter(match=f"{prefix.rstrip('_')}*")]
        if keys_left:
            await redis.delete(*keys_left)
        await redis.aclose()
        await db.drop_schema()
        await db.dispose()
