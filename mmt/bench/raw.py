"""The yardsticks `mmt bench dispatch` measures the suite against, on the same machine.

- `raw_redis_rate`: XADD + XREADGROUP + XACK of entries the size of ours, pipelined.
- `raw_pipeline`: the least work one reminder needs, written as plainly and as fast as we
  can in one process with no framework: XADD -> XREADGROUP -> batched INSERT -> HTTP POST
  to the same fake Twilio over one pooled aiohttp session -> batched UPDATE -> XACK. No
  rules, no outbox, no idempotency, no encryption: it is the practical ceiling.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis

from mmt.bench.common import BODY, TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN, phone
from shared.heap import freeze_startup_heap

BATCH = 500
IN_FLIGHT = 64
READERS = 4  # concurrent read loops: one waits on the database while another posts


async def raw_redis_rate(redis: Redis, prefix: str, n: int, size: int = 160) -> float:
    """Entries per second through XADD + XREADGROUP + XACK, pipelined."""
    stream, payload = f"{prefix}:yardstick", b"x" * size
    await redis.xgroup_create(stream, "g", id="0", mkstream=True)
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        pipe = redis.pipeline(transaction=False)
        for _ in range(min(BATCH, n - start)):
            pipe.xadd(stream, {"type": b"SendMessage.v1", "m": payload})
        await pipe.execute()
    done = 0
    while done < n:
        response: Any = await redis.xreadgroup("g", "c", {stream: ">"}, count=BATCH)
        ids = [entry_id for _, entries in response or [] for entry_id, _ in entries]
        if not ids:
            break
        await redis.xack(stream, "g", *ids)
        done += len(ids)
    await redis.delete(stream)
    return n / (time.perf_counter() - started)


def asyncpg_dsn(database_url: str) -> str:
    """SQLAlchemy's `postgresql+asyncpg://` URL as asyncpg wants it."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def raw_pipeline(
    database_url: str, redis: Redis, prefix: str, provider_url: str, n: int
) -> dict[str, Any]:
    """Run n reminders through the plainest pipeline; returns its figures."""
    # SQL below is built with this schema name: our own generated identifier, never input.
    schema = f"{prefix}_raw"
    pool = await asyncpg.create_pool(asyncpg_dsn(database_url), min_size=READERS, max_size=8)
    freeze_startup_heap()  # the suite's workers do (shared/heap.py); the ceiling gets it too
    stream = f"{prefix}:raw"
    url = f"{provider_url}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    headers = {"Authorization": aiohttp.encode_basic_auth(TWILIO_SID, TWILIO_TOKEN)}
    try:
        async with pool.acquire() as conn:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
            await conn.execute(
                f'CREATE TABLE "{schema}".messages (id text PRIMARY KEY, phone text, '
                "state text, provider_id text, due_at timestamptz, sent_at timestamptz)"
            )
        await redis.xgroup_create(stream, "raw", id="0", mkstream=True)
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100, limit_per_host=100)
        ) as http:
            started = time.perf_counter()
            producer = asyncio.create_task(_produce(redis, stream, n))
            limit = asyncio.Semaphore(IN_FLIGHT)
            done = [0]

            async def post(entry: dict[bytes, bytes]) -> tuple[str, str]:
                form = {"To": entry[b"to"].decode(), "From": TWILIO_FROM, "Body": BODY}
                async with limit, http.post(url, data=form, headers=headers) as response:
                    body = await response.json()
                return str(body["sid"]), entry[b"id"].decode()

            async def reader(name: str) -> None:
                while done[0] < n:
                    response: Any = await redis.xreadgroup(
                        "raw", name, {stream: ">"}, count=BATCH, block=50
                    )
                    entries = [
                        (eid, fields) for _, items in response or [] for eid, fields in items
                    ]
                    if not entries:
                        continue
                    async with pool.acquire() as conn:
                        await conn.executemany(
                            f'INSERT INTO "{schema}".messages (id, phone, state, due_at) '  # noqa: S608
                            "VALUES ($1, $2, 'queued', now())",
                            [(f[b"id"].decode(), f[b"to"].decode()) for _, f in entries],
                        )
                    sent = await asyncio.gather(*(post(f) for _, f in entries))
                    async with pool.acquire() as conn:
                        await conn.executemany(
                            f"UPDATE \"{schema}\".messages SET state = 'sent', provider_id = $1, "  # noqa: S608
                            "sent_at = now() WHERE id = $2",
                            sent,
                        )
                    await redis.xack(stream, "raw", *[eid for eid, _ in entries])
                    done[0] += len(entries)

            await asyncio.gather(*(reader(f"r{i}") for i in range(READERS)))
            await producer
            elapsed = time.perf_counter() - started
        async with pool.acquire() as conn:
            sent_rows = await conn.fetchval(
                f"SELECT count(*) FROM \"{schema}\".messages WHERE state = 'sent'"  # noqa: S608
            )
        return {
            "reminders": n,
            "sent": int(sent_rows),
            "total_s": round(elapsed, 3),
            "per_second": round(n / elapsed, 1),
            "in_flight": IN_FLIGHT,
            "readers": READERS,
        }
    finally:
        async with pool.acquire() as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await pool.close()
        await redis.delete(stream)


async def _produce(redis: Redis, stream: str, n: int) -> None:
    for start in range(0, n, BATCH):
        pipe = redis.pipeline(transaction=False)
        for i in range(start, min(start + BATCH, n)):
            pipe.xadd(stream, {"id": str(uuid.uuid4()), "to": phone(i)})
        await pipe.execute()
