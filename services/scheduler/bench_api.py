"""`mmt bench api`: coordinator reads under a steady load, p50/p99 and errors.

The scheduler's API runs as its own process (`mmt serve scheduler`, as deployed) on
throwaway schemas holding one clinic, N patients and a released day of messages. This
process sends an open-loop load: R requests a second for S seconds, each at its planned
moment whether or not earlier ones have answered (a closed loop would slow down with the
server and hide its queueing). Requests cycle through a patient, a patient's timeline and
the clinic's day summary, with an admin token, as a coordinator's screen would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from services.scheduler import planner
from services.scheduler.bench_common import (
    ROOT,
    bench_cipher,
    machine,
    peak_rss_mb,
    percentiles,
    seed_due,
    throwaway,
)
from services.scheduler.settings import SchedulerSettings
from shared.access.clinics import ClinicIn, create_clinic
from shared.access.tokens import Role, issue_token
from shared.cli.up import free_port, wait_for_port
from shared.db import Database
from shared.logging import configure_logging
from shared.migrate import ACCESS_MIGRATIONS, migrate
from shared.service import load_service

ENDPOINTS = ("patient", "timeline", "clinic_day")


async def bench_api(
    database_url: str,
    redis_url: str,
    rps: int,
    seconds: float,
    patients: int = 1000,
    profile: str | None = None,
) -> dict[str, Any]:
    configure_logging("bench", "WARNING")
    async with throwaway(redis_url) as place:
        access = Database(database_url, "access", schema_prefix=place.prefix)
        db = Database(database_url, "scheduler", schema_prefix=place.prefix)
        server: subprocess.Popen[bytes] | None = None
        try:
            await migrate(access, ACCESS_MIGRATIONS)
            await migrate(db, load_service("scheduler").migrations)
            clinic = await create_clinic(
                access,
                ClinicIn(
                    code="BENCH", name="Bench", time_zone="Asia/Shanghai", help_phone="0877 2012345"
                ),
            )
            cipher, keys = bench_cipher()
            now = datetime.now(UTC)
            await seed_due(db, patients, cipher, now - timedelta(minutes=1), clinic_id=clinic.id)
            while (await planner.release_due(db, SchedulerSettings(), now)).queued:
                pass  # a day of messages for the timelines and the day summary
            token = (await issue_token(access, Role.ADMIN, label="bench")).token
            port = free_port()
            server = _serve(database_url, redis_url, place.prefix, port, keys, profile)
            await asyncio.to_thread(wait_for_port, port, 30)
            base = f"http://127.0.0.1:{port}/api/v1"
            paths = {
                "patient": lambda i: f"{base}/patients/{1 + i % patients}",
                "timeline": lambda i: f"{base}/patients/{1 + i % patients}/timeline?limit=50",
                "clinic_day": lambda _: f"{base}/clinics/{clinic.id}/day",
            }
            figures = await _load(paths, token, rps, seconds)
            server_rss = peak_rss_mb(server.pid)
            facts = await machine(db, place.redis)
        finally:
            if server is not None:
                # SIGINT: uvicorn shuts down cleanly, so a profiler can write its report.
                server.send_signal(signal.SIGINT)
                await asyncio.to_thread(server.wait, 10)
            for database in (db, access):
                await database.drop_schema()
                await database.dispose()
    return {
        "benchmark": "api",
        "rps": rps,
        "seconds": seconds,
        "patients": patients,
        **figures,
        "peak_rss_mb": {"api": server_rss, "load": peak_rss_mb()},
        "machine": facts,
    }


def _serve(
    database_url: str,
    redis_url: str,
    prefix: str,
    port: int,
    keys: dict[str, str],
    profile: str | None,
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **keys,
        "DATABASE_URL": database_url,
        "DATABASE_SCHEMA_PREFIX": prefix,
        "REDIS_URL": redis_url,
        "BUS_PREFIX": prefix.rstrip("_"),
        "SCHEDULER_PORT": str(port),
        "SERVICE_HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    # pyinstrument (a dev dependency) wraps the server only when asked to profile it.
    profiler = (
        [sys.executable, "-m", "pyinstrument", "-o", profile] if profile else [sys.executable]
    )
    return subprocess.Popen(
        [*profiler, "-m", "shared.cli", "serve", "scheduler"], env=env, cwd=ROOT
    )


async def _load(paths: dict[str, Any], token: str, rps: int, seconds: float) -> dict[str, Any]:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    headers = {"Authorization": f"Bearer {token}"}
    total = int(rps * seconds)
    connector = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        # A short warm-up: the first requests of a process pay for imports and pools.
        for i in range(20):
            async with http.get(paths[ENDPOINTS[i % 3]](i), headers=headers) as response:
                await response.read()

        async def one(i: int, kind: str) -> None:
            started = time.perf_counter()
            try:
                async with http.get(paths[kind](i), headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors[f"{kind}:{response.status}"] += 1
                        return
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors[f"{kind}:{type(exc).__name__}"] += 1
                return
            latencies[kind].append(time.perf_counter() - started)

        tasks: list[asyncio.Task[None]] = []
        begun = time.perf_counter()
        for i in range(total):
            delay = begun + i / rps - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, ENDPOINTS[i % 3])))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begun
    every = [v for values in latencies.values() for v in values]
    return {
        "requests": total,
        "achieved_rps": round(total / elapsed, 1),
        "errors": dict(errors),
        "latency_ms": _ms(every),
        "latency_ms_by_endpoint": {kind: _ms(latencies[kind]) for kind in ENDPOINTS},
    }


def _ms(values: list[float]) -> dict[str, float | None]:
    return {
        key: round(value * 1000, 2) if value is not None else None
        for key, value in percentiles(values, 50, 99).items()
    }
