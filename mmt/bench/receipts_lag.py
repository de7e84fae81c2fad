"""`mmt bench api --mix receipts`, the worker's half: receipts are accepted by the API and
applied by the scheduler worker's receipt consumer (`mmt/bench/receipts_worker.py`, its own
process), so the bench also reports how long after the load stops the last one is applied.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select, update

from mmt.bench.common import ROOT, cpu_seconds
from services.scheduler.models import Message
from services.scheduler.receipt_stream import applied_until
from services.scheduler.receipt_waiting import WaitingReceipts
from services.scheduler.receipt_worker import WAITING_BOUND
from shared.bus import BusKeys
from shared.db import Database


async def mark_sent(db: Database) -> None:
    """Every message sent over SMS just now, as after a morning burst: each receipt then
    moves one from `sent` to `delivered`, the transition a real morning brings."""
    async with db.transaction() as session:
        await session.execute(
            update(Message).values(state="sent", channel="sms", updated_at=datetime.now(UTC))
        )


async def start_worker(database_url: str, redis_url: str, prefix: str, env: dict[str, str]) -> Any:
    """The receipt consumer's process, once it reads the stream."""
    command = [sys.executable, "-m", "mmt.bench.receipts_worker", database_url, redis_url, prefix]
    worker = await asyncio.to_thread(
        subprocess.Popen, command, env=env, cwd=ROOT, stdout=subprocess.PIPE
    )
    assert worker.stdout is not None
    first = await asyncio.to_thread(worker.stdout.readline)
    if not first.startswith(b'{"ready"'):
        worker.kill()
        raise RuntimeError("the receipts worker did not start")
    return worker


async def settle(redis: Redis, prefix: str, limit_s: float = 60.0) -> float | None:
    """Seconds until every receipt in the stream is applied and none is kept waiting; None
    if that takes longer than `limit_s`."""
    keys = BusKeys(prefix.rstrip("_"))
    waiting = WaitingReceipts(redis, keys, WAITING_BOUND)
    begun = time.perf_counter()
    while time.perf_counter() - begun < limit_s:
        now = datetime.now(UTC)
        if await applied_until(redis, keys, now) == now and not await waiting.count():
            return round(time.perf_counter() - begun, 3)
        await asyncio.sleep(0.02)
    return None


async def delivered(db: Database) -> int:
    async with db.sessions() as session:
        query = select(func.count()).where(Message.state == "delivered")
        return int(await session.scalar(query) or 0)


def stop_worker(worker: Any) -> float | None:
    """Stop the worker; its peak memory (MB), as it reports it."""
    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=20)
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    return json.loads(lines[-1])["peak_rss_mb"] if lines else None


def worker_cpu_s(worker: Any) -> float:
    return cpu_seconds([worker.pid])
