"""`mmt bench api`: coordinator reads, or providers' receipts, under a steady load.

The scheduler's API runs as its own process (`mmt serve scheduler`, as deployed) on
throwaway schemas holding one clinic, N patients and a released day of messages. This
process sends an open-loop load: R requests a second for S seconds, each at its planned
moment whether or not earlier ones have answered (a closed loop would slow down with the
server and hide its queueing). Requests cycle through a patient, a patient's timeline and
the clinic's day summary, with an admin token, as a coordinator's screen would. The first
`--warmup` seconds at that rate are reported apart ("warmup"): they show a process just
started, the rest its steady state.

`--mix replies` offers the feedback service patients' signed inbound SMS instead
(`replies.py`). `--mix receipts` sends Twilio's signed status callbacks (each a different
message turning from `sent` to `delivered`): a morning burst brings one or more for every reminder
it sent, as fast as the provider delivers them. The API accepts them onto the receipts
stream and the scheduler worker's receipt consumer applies them, in a process of its own
(`receipts_lag.py`); the bench reports how long after the load stops the last one is
applied, and the consumer's CPU and memory. Callbacks are signed before the clock starts,
so the load generator's own CPU is mostly HTTP.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from mmt.bench import receipts_lag
from mmt.bench.common import (
    ROOT,
    TWILIO_SID,
    TWILIO_TOKEN,
    bench_cipher,
    cpu_seconds,
    machine,
    peak_rss_mb,
    percentiles,
    seed_due,
    throwaway,
)
from mmt.registry import load_service
from services.scheduler import planner
from services.scheduler.models import Message
from services.scheduler.settings import SchedulerSettings
from shared.access.clinics import ClinicIn, create_clinic
from shared.access.tokens import Role, issue_token
from shared.db import Database
from shared.heap import freeze_startup_heap
from shared.logging import configure_logging
from shared.migrate import ACCESS_MIGRATIONS, migrate
from shared.net import free_port, wait_for_port

ENDPOINTS = ("patient", "timeline", "clinic_day")
MIXES = {"reads": ENDPOINTS, "receipts": ("receipt",), "replies": ("reply",)}


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    data: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


async def bench_api(
    database_url: str,
    redis_url: str,
    rps: int,
    seconds: float,
    patients: int = 1000,
    profile: str | None = None,
    processes: int = 1,
    warmup: float = 2.0,
    mix: str = "reads",
    *,
    answer_latency_ms: float = 0.0,
) -> dict[str, Any]:
    configure_logging("bench", "WARNING")
    if mix == "replies":  # another service: its own set-up (imported here: it uses _load)
        from mmt.bench.replies import bench_replies

        return await bench_replies(
            database_url,
            redis_url,
            rps,
            seconds,
            patients,
            warmup,
            profile=profile,
            answer_latency_ms=answer_latency_ms,
        )
    kinds = MIXES[mix]
    if mix == "receipts":  # a message of its own for every callback
        patients = max(patients, int(rps * (seconds + warmup)) + 20 * processes)
    async with throwaway(redis_url) as place:
        access = Database(database_url, "access", schema_prefix=place.prefix)
        db = Database(database_url, "scheduler", schema_prefix=place.prefix)
        server: subprocess.Popen[bytes] | None = None
        worker: subprocess.Popen[bytes] | None = None
        worker_peak: float | None = None
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
            if mix == "receipts":
                await receipts_lag.mark_sent(db)
            token = (await issue_token(access, Role.ADMIN, label="bench")).token
            port = free_port()
            server = _serve(database_url, redis_url, place.prefix, port, keys, profile, processes)
            await asyncio.to_thread(wait_for_port, port, 30)
            base = f"http://127.0.0.1:{port}/api/v1"
            calls: dict[str, Callable[[int], Call]] = {
                "patient": lambda i: Call("GET", f"{base}/patients/{1 + i % patients}"),
                "timeline": lambda i: Call(
                    "GET", f"{base}/patients/{1 + i % patients}/timeline?limit=50"
                ),
                "clinic_day": lambda _: Call("GET", f"{base}/clinics/{clinic.id}/day"),
            }
            if mix == "receipts":  # the message ids are read only when receipts are sent
                count = 20 * processes + int(rps * (warmup + seconds))
                public = f"http://127.0.0.1:{port}"
                calls["receipt"] = _receipts(await _message_ids(db), public, count)
                env = {**os.environ, "DATABASE_SCHEMA_PREFIX": place.prefix}
                worker = await receipts_lag.start_worker(database_url, redis_url, place.prefix, env)
                worker_cpu = receipts_lag.worker_cpu_s(worker)
            figures = await _load(calls, kinds, token, rps, seconds, server.pid, processes, warmup)
            if worker is not None:  # each accepted one applied: how long after the load
                figures["receipts_applied_s_after_load"] = await receipts_lag.settle(
                    place.redis, place.prefix
                )
                figures["messages_delivered"] = await receipts_lag.delivered(db)
                figures["worker_cpu_ms_per_receipt"] = round(
                    (receipts_lag.worker_cpu_s(worker) - worker_cpu) * 1000 / count, 3
                )
                worker_peak = receipts_lag.stop_worker(worker)
                worker = None
            serving = _serving_pids(server.pid)
            server_rss = [peak_rss_mb(pid) for pid in serving]
            facts = await machine(db, place.redis)
        finally:
            if worker is not None:  # the run failed before the worker was stopped
                receipts_lag.stop_worker(worker)
            if server is not None:
                # SIGINT: uvicorn shuts down cleanly, so a profiler can write its report.
                server.send_signal(signal.SIGINT)
                await asyncio.to_thread(server.wait, 10)
            for database in (db, access):
                await database.drop_schema()
                await database.dispose()
    return {
        "benchmark": "api",
        "mix": mix,
        "rps": rps,
        "seconds": seconds,
        "patients": patients,
        "processes": processes,
        **figures,
        "peak_rss_mb": {
            "api": max((mb for mb in server_rss if mb is not None), default=None),
            "api_each": server_rss,
            "load": peak_rss_mb(),
            **({"receipts_worker": worker_peak} if mix == "receipts" else {}),
        },
        "machine": facts,
    }


def _serve(
    database_url: str,
    redis_url: str,
    prefix: str,
    port: int,
    keys: dict[str, str],
    profile: str | None,
    processes: int,
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **keys,
        "DATABASE_URL": database_url,
        "DATABASE_SCHEMA_PREFIX": prefix,
        "REDIS_URL": redis_url,
        "BUS_PREFIX": prefix.rstrip("_"),
        "SCHEDULER_PORT": str(port),
        "API_PROCESSES": str(processes),
        # Receipts: Twilio signs each callback with the account's token over the URL it
        # was given, which is this server's.
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SERVICE_HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    # pyinstrument (a dev dependency) wraps the server only when asked to profile it.
    profiler = (
        [sys.executable, "-m", "pyinstrument", "-o", profile] if profile else [sys.executable]
    )
    return subprocess.Popen([*profiler, "-m", "mmt", "serve", "scheduler"], env=env, cwd=ROOT)


async def _message_ids(db: Database) -> list[str]:
    async with db.sessions() as session:
        return list((await session.scalars(select(Message.id).order_by(Message.id))).all())


def _receipts(message_ids: list[str], public: str, count: int) -> Callable[[int], Call]:
    """Twilio's `delivered` callback for the i-th message, signed as Twilio signs it; the
    `count` the run sends are signed now, before the clock starts."""
    validator = RequestValidator(TWILIO_TOKEN)

    def build(i: int) -> Call:
        url = f"{public}/webhooks/twilio/status?message_id={message_ids[i % len(message_ids)]}"
        form = {
            "AccountSid": TWILIO_SID,
            "MessageSid": f"SM{i:032x}",
            "MessageStatus": "delivered",
            "To": f"+86139{i % 100_000_000:08d}",
        }
        return twilio_signed(validator, url, form)

    return presigned(build, count)


def twilio_signed(validator: RequestValidator, url: str, form: dict[str, str]) -> Call:
    signature = validator.compute_signature(url, form)
    return Call("POST", url, form, {"X-Twilio-Signature": signature})


def presigned(build: Callable[[int], Call], count: int) -> Callable[[int], Call]:
    """The first `count` calls built now, before the clock starts; any later one when sent."""
    signed = [build(i) for i in range(count)]
    return lambda i: signed[i] if i < count else build(i)


async def _load(
    calls: dict[str, Callable[[int], Call]],
    kinds: tuple[str, ...],
    token: str,
    rps: int,
    seconds: float,
    server: int,
    processes: int,
    warmup: float,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        # A few rounds first: the port opens before every process serves (the supervisor
        # listens for them all), so each round is sent at once, for the kernel to spread.
        for start in range(0, 20 * processes, processes):

            async def warm(i: int) -> None:
                call = calls[kinds[i % len(kinds)]](i)
                async with http.request(
                    call.method, call.url, data=call.data, headers={**headers, **call.headers}
                ) as response:
                    await response.read()

            await asyncio.gather(*(warm(i) for i in range(start, start + processes)))
        # The measuring process holds the suite's imports too, so the collector's full
        # passes would stall it as they stall a server (shared/heap.py), and its own pauses
        # would be counted as the server's latency (p99 89 ms instead of 8 ms, measured).
        freeze_startup_heap()
        # Then `warmup` seconds at the full rate, reported on their own: a just-started
        # process (or one of several still starting) is what they show, not steady state.
        cold = _Tally()
        if warmup > 0:
            await _open_loop(http, calls, kinds, headers, rps, warmup, cold, offset=20 * processes)
        api_cpu, load_cpu = cpu_seconds(_serving_pids(server)), _own_cpu_seconds()
        steady = _Tally()
        elapsed = await _open_loop(
            http,
            calls,
            kinds,
            headers,
            rps,
            seconds,
            steady,
            offset=20 * processes + int(rps * warmup),
        )
        api_cpu = cpu_seconds(_serving_pids(server)) - api_cpu
        load_cpu = _own_cpu_seconds() - load_cpu
    total = int(rps * seconds)
    return {
        "requests": total,
        "achieved_rps": round(total / elapsed, 1),
        "errors": dict(steady.errors),
        "latency_ms": _ms(steady.every()),
        "latency_ms_by_endpoint": {kind: _ms(steady.latencies[kind]) for kind in kinds},
        "cpu_ms_per_request": {
            "api": round(api_cpu * 1000 / total, 3),
            "load": round(load_cpu * 1000 / total, 3),
        },
        "warmup": {
            "seconds": warmup,
            "requests": int(rps * warmup),
            "errors": dict(cold.errors),
            "latency_ms": _ms(cold.every()),
        },
    }


class _Tally:
    """Latencies by endpoint and errors by kind, of one phase of the load."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)

    def every(self) -> list[float]:
        return [v for values in self.latencies.values() for v in values]


async def _open_loop(
    http: aiohttp.ClientSession,
    calls: dict[str, Callable[[int], Call]],
    kinds: tuple[str, ...],
    headers: dict[str, str],
    rps: int,
    seconds: float,
    tally: _Tally,
    offset: int,
) -> float:
    """Send rps requests a second for `seconds`, each at its planned moment whether or not
    earlier ones have answered; returns the seconds until the last answered. Request i is
    the (offset + i)-th: each phase its own receipts."""

    async def one(i: int, kind: str) -> None:
        call = calls[kind](offset + i)
        started = time.perf_counter()
        try:
            async with http.request(
                call.method, call.url, data=call.data, headers={**headers, **call.headers}
            ) as response:
                await response.read()
                if response.status != 200:
                    tally.errors[f"{kind}:{response.status}"] += 1
                    return
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.errors[f"{kind}:{type(exc).__name__}"] += 1
            return
        tally.latencies[kind].append(time.perf_counter() - started)

    tasks: list[asyncio.Task[None]] = []
    begun = time.perf_counter()
    for i in range(int(rps * seconds)):
        delay = begun + i / rps - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, kinds[i % len(kinds)])))
    await asyncio.gather(*tasks)
    return time.perf_counter() - begun


def _serving_pids(server: int) -> list[int]:
    """The processes that answer: the server itself, or the children of its supervisor
    (not multiprocessing's resource tracker, which the supervisor also starts)."""
    children = [
        pid
        for pid, parent in _parents().items()
        if parent == server and b"resource_tracker" not in _cmdline(pid)
    ]
    return children or [server]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _ms(values: list[float]) -> dict[str, float | None]:
    return {
        key: round(value * 1000, 2) if value is not None else None
        for key, value in percentiles(values, 50, 99).items()
    }
