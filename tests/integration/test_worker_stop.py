"""A worker stops quietly: running ticks finish, a late one is cancelled at info, and
APScheduler logs nothing at ERROR (it used to: `relay_tick ... CancelledError`)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from shared.db import Database
from shared.service import PeriodicJob, ServiceDefinition, WorkerParts
from shared.settings import BusSettings, DatabaseSettings, ServiceSettings, Settings
from shared.worker import Worker
from tests.conftest import Backends


async def test_stopping_lets_ticks_finish_and_cancels_a_late_one_without_an_error(
    backends: Backends,
    isolation: str,
    content_db: Database,
    redis: Redis,
    content: ServiceDefinition,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(
        database=DatabaseSettings(
            database_url=backends.database_url, database_schema_prefix=isolation
        ),
        bus=BusSettings(
            redis_url=backends.redis_url,
            bus_prefix=isolation.rstrip("_"),
            bus_block_ms=100,
            outbox_interval_s=0.05,  # relay ticks in flight when the stop comes
        ),
        service=ServiceSettings(gc_freeze=False, worker_heartbeat_dir=str(tmp_path)),
    )
    started = {"short": asyncio.Event(), "endless": asyncio.Event()}
    finished = asyncio.Event()

    async def short() -> None:
        started["short"].set()
        await asyncio.sleep(0.3)
        finished.set()

    async def endless() -> None:
        started["endless"].set()
        await asyncio.Event().wait()

    parts = WorkerParts(jobs=[PeriodicJob("short", 60, short), PeriodicJob("endless", 60, endless)])
    worker = Worker(content, settings, content_db, redis, parts)
    stop = asyncio.Event()
    with capture_logs() as logs, caplog.at_level(logging.INFO, logger="apscheduler"):
        running = asyncio.create_task(worker.run(stop, grace_s=1.0))
        for event in started.values():
            await asyncio.wait_for(event.wait(), 10)
        stopped_at = time.monotonic()
        stop.set()
        await asyncio.wait_for(running, 10)
    assert finished.is_set()  # a tick running at the stop was let finish
    assert time.monotonic() - stopped_at < 5  # the endless one was not waited for
    cancelled = [e for e in logs if e["event"] == "worker.tick_cancelled"]
    assert [(e["log_level"], e["job"]) for e in cancelled] == [("info", "endless")]
    assert [e for e in logs if e["log_level"] in ("error", "critical")] == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert "worker.stopped" in [e["event"] for e in logs]
