"""`mmt bench dispatch`: a burst of due reminders through the real planner, outbox relay,
bus and batch dispatcher on the configured PostgreSQL and Redis, handed to the real Twilio
adapter talking to the fake Twilio over loopback HTTP, with the yardsticks measured in the
same run (raw.py). The last line printed is one JSON object.

The suite runs as scheduler workers would (worker.py): this process is one worker,
`--workers K` adds K - 1 more as child processes; intervals and bus settings come from the
environment (PLANNER_INTERVAL_S, OUTBOX_INTERVAL_S, BUS_*). The fake provider is another
process. Lateness is from a reminder's due time to the moment the provider accepted it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Interval, exists, func, literal, select, text, update

from mmt.bench.common import (
    ROOT,
    Place,
    bench_cipher,
    fake_provider,
    machine,
    peak_rss_mb,
    percentiles,
    ratio,
    seed_due,
    seed_history,
    throwaway,
)
from mmt.bench.raw import raw_pipeline, raw_redis_rate
from mmt.bench.worker import run_worker
from mmt.registry import load_service
from services.scheduler.dispatch import OPEN_STATES
from services.scheduler.models import Message, Occurrence
from services.scheduler.settings import SchedulerSettings
from shared.bus import BusKeys
from shared.db import Database
from shared.logging import configure_logging
from shared.migrate import migrate
from shared.settings import BusSettings

# The adapter the burst goes through, each to its own fake: sms is Twilio's; aliyun and
# tencent serve the sms code too (mmt/bench/cn_sms.py).
CHANNELS = ("sms", "wechat", "aliyun", "tencent")
LEAD_S = 2.0  # the first reminder falls due this long after the worker processes start


def refusal(channel: str, yardsticks: bool) -> str | None:
    """Why `bench_dispatch` cannot measure this combination, or None when it can."""
    if channel not in CHANNELS:
        return f"--channel is one of {', '.join(CHANNELS)}, not {channel!r}"
    if yardsticks and channel != "sms":
        return (
            "the yardsticks post Twilio's request, a ceiling for the SMS path only: "
            f"add --no-yardsticks to --channel {channel}"
        )
    return None


async def bench_dispatch(
    database_url: str,
    redis_url: str,
    n: int,
    *,
    spread_s: float = 0.0,
    workers: int = 1,
    batch: bool = True,
    yardsticks: bool = True,
    profile: str | None = None,
    channel: str = "sms",
) -> dict[str, Any]:
    reason = refusal(channel, yardsticks)
    if reason:
        raise ValueError(reason)
    # Warnings only: per-message info lines would be most of what is measured.
    configure_logging("bench", "WARNING")
    async with throwaway(redis_url) as place:
        db = Database(database_url, "scheduler", schema_prefix=place.prefix, pool_size=20)
        try:
            with fake_provider(channel) as fake:
                suite = await _run_suite(
                    db,
                    place,
                    (database_url, redis_url, fake.url),
                    n,
                    spread_s,
                    workers,
                    batch,
                    profile,
                    channel,
                )
                provider = fake.stats()
                raw = (
                    await raw_pipeline(database_url, place.redis, place.bus, fake.url, n)
                    if yardsticks
                    else None
                )
                suite["peak_rss_mb"][f"fake_{fake.name}"] = peak_rss_mb(fake.process.pid)
            streams = await raw_redis_rate(place.redis, place.bus, n) if yardsticks else None
            facts = await machine(db, place.redis)
        finally:
            await db.drop_schema()
            await db.dispose()
    return {
        "benchmark": "dispatch",
        "channel": channel,
        "reminders": n,
        "spread_s": spread_s,
        "workers": workers,
        **suite,
        "provider_accepted": provider.get("total_accepted", 0),
        "provider_duplicates": len(provider.get("duplicates", {})),
        "raw_pipeline": raw,
        "raw_redis_streams_per_second": round(streams, 1) if streams else None,
        "ratio_to_raw_pipeline": ratio(suite["per_second"], raw["per_second"]) if raw else None,
        "ratio_to_raw_redis_streams": ratio(suite["per_second"], streams) if streams else None,
        "machine": facts,
    }


async def _run_suite(
    db: Database,
    place: Place,
    urls: tuple[str, str, str],
    n: int,
    spread_s: float,
    workers: int,
    batch: bool,
    profile: str | None,
    channel: str,
) -> dict[str, Any]:
    database_url, redis_url, provider_url = urls
    await migrate(db, load_service("scheduler").migrations)
    cipher, keys = bench_cipher()
    # Seeded a day ahead, so nothing falls due while seeding (200,000 patients and their
    # history take a while), then moved to fall due LEAD_S from now, once the worker
    # processes are starting: lateness counts from the due time, not from the seeding.
    seeded_for = datetime.now(UTC) + timedelta(days=1)
    await seed_due(db, n, cipher, seeded_for, spread_s, channel=channel)
    await seed_history(db)
    children = _start_children(
        workers - 1, (database_url, redis_url, place.prefix, provider_url, channel), keys
    )
    first_due = datetime.now(UTC) + timedelta(seconds=LEAD_S)
    await move_due(db, first_due - seeded_for)
    stop = asyncio.Event()
    profiler = _start_profiler(profile)
    try:
        await asyncio.sleep(max(0.0, (first_due - datetime.now(UTC)).total_seconds()))
        started, cpu_started = time.perf_counter(), time.process_time()
        worker = asyncio.create_task(
            run_worker(
                db,
                place.redis,
                place.bus,
                provider_url,
                cipher,
                stop,
                name="main",
                batch=batch,
                channel_code=channel,
            )
        )
        try:
            await _wait_until_done(db, worker, children)
            finished, cpu = time.perf_counter(), time.process_time() - cpu_started
        finally:
            stop.set()
            await asyncio.gather(worker, return_exceptions=True)
    finally:
        _stop_profiler(profiler, profile)
        child_rss = [_stop_child(child) for child in children]
    total = finished - started
    config, bus = SchedulerSettings(), BusSettings()
    return {
        "batch": batch,
        "states": await _states(db, seeded_for.date()),
        # Anything here means the run did work it should not have (a bad payload, a
        # replayed outbox): its figures are not the suite's.
        "dead_letters": await place.redis.xlen(BusKeys(place.bus).dead_letters),
        "total_s": round(total, 3),
        "per_second": round(n / total, 1),
        "lateness_s": await _lateness(db, seeded_for.date()),
        # Busy share of one core: near 1.0 means this process's own CPU is the limit.
        "worker_cpu_share": round(cpu / total, 2),
        "peak_rss_mb": {"worker": peak_rss_mb(), "more_workers": child_rss},
        "settings": {
            "planner_interval_s": config.planner_interval_s,
            "release_batch_size": config.release_batch_size,
            "outbox_interval_s": bus.outbox_interval_s,
            "bus_batch_size": bus.bus_batch_size,
            "bus_concurrency": bus.bus_concurrency,
        },
    }


def _start_children(
    count: int, argv: tuple[str, ...], keys: dict[str, str]
) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "mmt.bench.worker", *argv],
            env={**os.environ, **keys},  # the same identifier keys: the same cipher
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        for _ in range(count)
    ]


def _stop_child(child: subprocess.Popen[bytes]) -> float | None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
    try:
        out, _ = child.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return None
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        return float(json.loads(lines[-1])["peak_rss_mb"]) if lines else None
    except (ValueError, KeyError):
        return None


async def _wait_until_done(
    db: Database, worker: asyncio.Task[Any], children: list[subprocess.Popen[bytes]]
) -> None:
    """Until every reminder has a message in a final state; a dead worker ends the run."""
    released = False
    while True:
        await asyncio.sleep(0.2)
        if worker.done():
            worker.result()  # raises what it died of
            raise RuntimeError("the worker ended early")
        if any(child.poll() is not None for child in children):
            raise RuntimeError("a worker process ended early")
        # Two EXISTS on partial indexes: counting the messages table every 0.2 s cost 7 %
        # of PostgreSQL's time in a burst, taken from the work being measured.
        async with db.sessions() as session:
            if not released:
                released = not await session.scalar(
                    select(
                        exists().where(Occurrence.state == "planned", Occurrence.slot == "bench")
                    )
                )
            if released and not await session.scalar(
                select(exists().where(Message.state.in_(OPEN_STATES)))
            ):
                return


async def move_due(db: Database, by: timedelta) -> None:
    by_ = literal(by, Interval())  # typed, or the column's datetime type would bind it
    async with db.transaction() as session:
        await session.execute(
            update(Occurrence)
            .where(Occurrence.state == "planned", Occurrence.slot == "bench")
            .values(due_at=Occurrence.due_at + by_, expires_at=Occurrence.expires_at + by_)
        )


async def _states(db: Database, day: date) -> dict[str, int]:
    """The burst's messages by state (not yesterday's, from `seed_history`)."""
    async with db.sessions() as session:
        rows = await session.execute(
            select(Message.state, func.count())
            .where(Message.local_date == day)
            .group_by(Message.state)
        )
        return {str(state): int(count) for state, count in rows.all()}


async def _lateness(db: Database, day: date) -> dict[str, float | None]:
    """Seconds from due to accepted by the provider (the attempt's time), per message."""
    schema = db.schema
    # The schema is our own generated identifier (bench + hex), never input.
    query = text(
        f'SELECT extract(epoch FROM a.at - o.due_at) FROM "{schema}".attempts a '  # noqa: S608
        f'JOIN "{schema}".messages m ON m.id = a.message_id '
        f'JOIN "{schema}".occurrences o ON o.id = m.occurrence_id '
        "WHERE a.outcome IN ('sent', 'delivered') AND m.local_date = :day"
    )
    async with db.engine.connect() as conn:
        values = [float(v) for v in (await conn.execute(query, {"day": day})).scalars()]
    return {**percentiles(values, 50, 99), "max": round(max(values), 4) if values else None}


def _start_profiler(path: str | None) -> Any:
    if path is None:
        return None
    from pyinstrument import Profiler  # a dev dependency: only for --profile

    profiler = Profiler(async_mode="disabled")  # every task, not only the awaiting one
    profiler.start()
    return profiler


def _stop_profiler(profiler: Any, path: str | None) -> None:
    if profiler is None or path is None:
        return
    profiler.stop()
    with open(path, "w", encoding="utf-8") as out:
        out.write(profiler.output_text(unicode=True, color=False, show_all=False))
