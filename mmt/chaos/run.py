"""A chaos run: the scheduler as real processes on PostgreSQL and a private Redis, a fake
Twilio that fails and lags, a burst of due reminders, and faults in the middle of it.

Used by `mmt chaos` and by tests/chaos. It works under a fresh schema prefix and its own
redis-server (so FLUSHALL touches nothing else) and removes both afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path

from redis import Redis as SyncRedis
from sqlalchemy import update

from deploy.fakes.process import RunningFake, running_fake
from mmt.bench.common import (
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    bench_cipher,
    seed_due,
)
from mmt.chaos.checks import Figures, measure, progress
from mmt.chaos.plan import ChaosPlan, Faults, Suite
from mmt.registry import migrate_all
from services.scheduler.models import Patient
from shared.bus import BusKeys
from shared.crypto import IdentifierCipher
from shared.db import Database
from shared.net import free_port
from shared.settings import DatabaseSettings

ROOT = Path(__file__).resolve().parents[2]
OWNERS = ("access", "content", "scheduler", "feedback")
RECEIPT_GRACE_S = 10.0


def _zone_at_six() -> str:
    """A fixed-offset zone where it is about 06:00 now, so a 12:00 dose is hours away today
    and tomorrow: the planner's own ticks add nothing due during the run."""
    offset = (6 - datetime.now(UTC).hour + 12) % 24 - 12  # -12..+11 hours from UTC
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


async def _prepare(settings: DatabaseSettings, plan: ChaosPlan, cipher: IdentifierCipher) -> None:
    await migrate_all(settings)
    db = Database.from_settings(settings, "scheduler")
    try:
        await seed_due(db, plan.reminders, cipher, datetime.now(UTC), plan.spread_s)
        async with db.transaction() as session:
            await session.execute(
                update(Patient).values(time_zone=_zone_at_six(), dose_time=clock_time(12, 0))
            )
    finally:
        await db.dispose()


async def _drop(settings: DatabaseSettings) -> None:
    for owner in OWNERS:
        db = Database.from_settings(settings, owner)
        await db.drop_schema()
        await db.dispose()


def _environment(
    database_url: str,
    prefix: str,
    redis_url: str,
    fake: RunningFake,
    keys: dict[str, str],
    plan: ChaosPlan,
) -> dict[str, str]:
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "WECHAT_"))}
    env.update(keys)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DATABASE_SCHEMA_PREFIX": prefix,
            "DATABASE_POOL_SIZE": "10",
            "REDIS_URL": redis_url,
            "BUS_PREFIX": prefix.rstrip("_"),
            "SCHEDULER_PORT": str(api_port),
            "WORKER_HEARTBEAT_DIR": tempfile.mkdtemp(prefix="mmt-chaos-"),
            "LOG_LEVEL": "ERROR",
            "PLANNER_INTERVAL_S": "1",
            "CHANNEL_SMS": "twilio",
            "TWILIO_ACCOUNT_SID": TWILIO_SID,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TWILIO_FROM_NUMBER": TWILIO_FROM,
            "TWILIO_API_BASE_URL": fake.url,
            # Far above what a run sends: the fake's 429s are the limit here, not pacing.
            "TWILIO_RATE": "1000000/second",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",  # receipts come back here
            "LESSON_LINK_SECRET": uuid.uuid4().hex * 2,
        }
    )
    if plan.retry_backoff_s is not None:
        env["RETRY_BACKOFF_S"] = str(plan.retry_backoff_s)
    return env


@contextmanager
def _fake(plan: ChaosPlan) -> Iterator[RunningFake]:
    knobs = {
        "account-sid": TWILIO_SID,
        "auth-token": TWILIO_TOKEN,
        "callback-statuses": "delivered",
        "callback-delay": 0.1,
        "error-rate": plan.error_rate,
        "rate-limit-rate": plan.rate_limit_rate,
        "retry-after": 1,
        "latency-ms": plan.latency_ms,
    }
    flags = [part for name, value in knobs.items() for part in (f"--{name}", str(value))]
    with running_fake("twilio", *flags) as fake:
        yield fake


def run_chaos(database_url: str, plan: ChaosPlan) -> Figures:
    """One run, start to end; always cleans up. Returns what was measured."""
    prefix = f"chaos{uuid.uuid4().hex[:8]}_"
    settings = DatabaseSettings(database_url=database_url, database_schema_prefix=prefix)
    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    cipher, keys = bench_cipher()
    suite: Suite | None = None
    env: dict[str, str] = {}
    try:
        with _fake(plan) as fake:
            env = _environment(database_url, prefix, redis_url, fake, keys, plan)
            suite = Suite(env, plan.workers, redis_port)
            suite.start_redis()
            asyncio.run(_prepare(settings, plan, cipher))
            suite.start_api()
            started = time.monotonic()
            for index in range(plan.workers):
                suite.start_worker(index)
            faults = _drive(suite, settings, plan, redis_url, started)
            return asyncio.run(measure(settings, redis_url, plan, faults, fake, started, suite))
    finally:
        # Its Redis is private and keeps nothing on disk: stopping it removes every key.
        try:
            if suite is not None:
                suite.stop()
        finally:
            asyncio.run(_drop(settings))
            if "WORKER_HEARTBEAT_DIR" in env:
                shutil.rmtree(env["WORKER_HEARTBEAT_DIR"], ignore_errors=True)


def _drive(
    suite: Suite, settings: DatabaseSettings, plan: ChaosPlan, redis_url: str, started: float
) -> Faults:
    """Wait for the burst to finish, landing each fault when its share is handed over."""
    faults = Faults(started)
    pending = {
        name: at
        for name, at in (
            ("kill_worker", plan.kill_worker_at),
            ("flush_redis", plan.flush_redis_at),
            ("restart_redis", plan.restart_redis_at),
            ("restart_postgres", plan.restart_postgres_at),
        )
        if at is not None
    }
    keys = BusKeys(suite.env["BUS_PREFIX"])
    poisoned = not plan.poison
    receipts_due: float | None = None  # when every reminder was final or sent
    while time.monotonic() - started < plan.timeout_s:
        done, _sending, sent = asyncio.run(progress(settings))
        # Faults land by the share handed to the provider: receipts lag behind (and may be
        # lost under load), so a share of final states alone could never reach a late fault.
        share = (done + sent) / plan.reminders
        for name, at in sorted(pending.items(), key=lambda item: item[1]):
            if share >= at and not _too_soon(name, faults, plan):
                del pending[name]
                at_s = round(time.monotonic() - started, 1)
                _land(name, suite, redis_url)
                # Counted after the fault: what a killed worker had in hand stays "sending".
                _, held, _ = asyncio.run(progress(settings))
                event = {"fault": name, "at_share": round(share, 3), "at_s": at_s}
                faults.events.append({**event, "in_flight": held})
        if not poisoned and not pending:  # after the faults: FLUSHALL would wipe it
            poisoned = _poison(redis_url, keys)
        if suite.dead():
            raise RuntimeError(f"processes exited: {', '.join(suite.dead())}")
        if not pending and poisoned:
            if done >= plan.reminders:
                break
            if done + sent < plan.reminders:
                receipts_due = None
            elif receipts_due is None:
                receipts_due = time.monotonic() + RECEIPT_GRACE_S
            elif time.monotonic() > receipts_due:
                break  # a receipt that has not come by now is not coming
        time.sleep(0.5)
    return faults


def _too_soon(name: str, faults: Faults, plan: ChaosPlan) -> bool:
    if name not in ("flush_redis", "restart_redis"):
        return False
    kills = [float(e["at_s"]) for e in faults.events if e["fault"] == "kill_worker"]
    if not kills:
        return False
    return time.monotonic() - faults.started - kills[-1] < plan.wipe_after_kill_s


def _land(name: str, suite: Suite, redis_url: str) -> None:
    if name == "kill_worker":
        suite.kill_worker(0)
        suite.start_worker(0)
    elif name == "flush_redis":
        client = SyncRedis.from_url(redis_url)
        client.flushall()  # the private server of this run only
        client.close()
    elif name == "restart_redis":
        suite.restart_redis()
    elif name == "restart_postgres":
        cluster = sorted(os.listdir("/etc/postgresql"))[0]
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart"],
            check=True,
            timeout=120,
        )


def _poison(redis_url: str, keys: BusKeys) -> bool:
    """A garbled SendMessage: consumers must dead-letter it at once, never block on it."""
    client = SyncRedis.from_url(redis_url)
    try:
        client.xadd(keys.stream("SendMessage"), {"type": b"SendMessage.v1", "m": b"{not json"})
    finally:
        client.close()
    return True
