"""A service's worker process: bus consumer, outbox relay and periodic ticks.

APScheduler 3 runs only a few coarse ticks here, with the in-memory job store: its
SQLAlchemy store cannot be shared between processes and loads due jobs unbounded, so
per-patient plans live in the services' own tables, never as jobs.

Stopping (SIGINT or SIGTERM) is quiet: no new tick starts, the ticks running are given
`STOP_GRACE_S` to finish, and one still running then is cancelled with an info line.
APScheduler's own shutdown would cancel them mid-flight and log each at ERROR with a
traceback (`relay_tick ... CancelledError`), on every clean stop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import start_http_server
from redis.asyncio import Redis

from shared.bus import BusKeys, Inbox, OutboxRelay, StreamConsumer, trim_stream
from shared.bus.connect import connect_redis
from shared.bus.gauges import sample_backlog
from shared.db import Database
from shared.heap import freeze_startup_heap
from shared.logging import configure_logging, get_logger, redact_text
from shared.metrics import WORKER_HEARTBEAT
from shared.service import PeriodicJob, ServiceDefinition, WorkerParts
from shared.settings import Settings

log = get_logger(__name__)

# How long a stopping worker lets its running ticks finish; well within the 10 s that
# `mmt up` (and a container runtime's default) gives a process before it kills it.
STOP_GRACE_S = 5.0


def heartbeat_path(settings: Settings, service: str) -> Path:
    return settings.service.heartbeat_file(service)


class Worker:
    def __init__(
        self,
        definition: ServiceDefinition,
        settings: Settings,
        db: Database,
        redis: Redis,
        parts: WorkerParts | None = None,
    ) -> None:
        bus = settings.bus
        self.parts = parts or WorkerParts()
        self.inbox = Inbox(db, definition.processed_model)
        handlers = {**definition.handlers, **self.parts.handlers}
        self.definition = definition
        self.settings = settings
        self.db = db
        self.redis = redis
        self.keys = BusKeys(bus.bus_prefix)
        self.relay = OutboxRelay(
            db,
            redis,
            self.keys,
            definition.outbox_model,
            service=definition.name,
            stream_maxlen=bus.bus_stream_maxlen,
            replay_window_s=bus.outbox_replay_window_s,
        )
        self.consumer = (
            StreamConsumer(
                redis,
                self.keys,
                group=definition.name,
                consumer=bus.bus_consumer_name,
                handlers=handlers,
                inbox=self.inbox,
                batch_size=bus.bus_batch_size,
                block_ms=bus.bus_block_ms,
                claim_idle_ms=bus.bus_claim_idle_ms,
                max_deliveries=bus.bus_max_deliveries,
                concurrency=bus.bus_concurrency,
                batch_handlers=self.parts.batch_handlers,
            )
            if handlers
            else None
        )
        self.heartbeat = heartbeat_path(settings, definition.name)
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def relay_tick(self) -> None:
        try:
            await self.relay.relay_once()
        except Exception as exc:  # a tick must never kill the scheduler; the next one retries
            log.warning(
                "outbox.relay_failed", service=self.definition.name, error=type(exc).__name__
            )

    async def housekeeping_tick(self) -> None:
        try:
            await self.relay.forget_old()
            window = timedelta(seconds=2 * self.settings.bus.outbox_replay_window_s)
            await self.inbox.forget_before(datetime.now(UTC) - window)
            if self.consumer is not None:
                now_ms = int(time.time() * 1000)
                keep_ms = self.settings.bus.outbox_replay_window_s * 1000
                for stream in self.consumer.streams:
                    await trim_stream(self.redis, stream, keep_ms, now_ms)
        except Exception as exc:
            log.warning(
                "worker.housekeeping_failed", service=self.definition.name, error=type(exc).__name__
            )

    def _guarded(self, job: PeriodicJob) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            try:
                await job.run()
            except Exception as exc:  # the next tick retries; say which job and why
                log.error(
                    "worker.job_failed",
                    service=self.definition.name,
                    job=job.name,
                    error=redact_text(f"{type(exc).__name__}: {exc}")[:300],
                )

        return run

    def beat(self) -> None:
        self.heartbeat.parent.mkdir(parents=True, exist_ok=True)
        self.heartbeat.touch()
        WORKER_HEARTBEAT.labels(self.definition.name).set_to_current_time()

    async def gauges_tick(self) -> None:
        if self.consumer is None:
            return
        try:
            await sample_backlog(self.redis, self.keys, self.consumer.streams, self.consumer.group)
        except Exception as exc:  # a gauge left stale for one tick; the next samples again
            log.warning(
                "worker.gauges_failed", service=self.definition.name, error=type(exc).__name__
            )

    async def beat_tick(self) -> None:
        self.beat()

    def _tracked(
        self, name: str, tick: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        """A tick the worker can wait for when it stops, and cancel without an error."""

        @wraps(tick)
        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                await tick()
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
                # Cancelled because the worker stops: the next start's first tick redoes
                # whatever this one had not committed. Not an error, nothing to trace.
                log.info("worker.tick_cancelled", service=self.definition.name, job=name)
            finally:
                self._running.discard(task)

        return run

    async def _drain(self, scheduler: AsyncIOScheduler, grace_s: float) -> None:
        """No new tick starts; those running get `grace_s` to finish, then are cancelled."""
        self._stopping = True
        scheduler.pause()
        running = set(self._running)
        if running:
            _done, late = await asyncio.wait(running, timeout=grace_s)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
        scheduler.shutdown(wait=False)

    def _scheduler(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(
            timezone="UTC",
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 60},
        )
        scheduler.add_job(
            self._tracked("outbox-relay", self.relay_tick),
            "interval",
            id="outbox-relay",
            seconds=self.settings.bus.outbox_interval_s,
        )
        scheduler.add_job(
            self._tracked("housekeeping", self.housekeeping_tick),
            "interval",
            id="housekeeping",
            seconds=60,
        )
        scheduler.add_job(
            self._tracked("heartbeat", self.beat_tick), "interval", id="heartbeat", seconds=5
        )
        scheduler.add_job(
            self._tracked("bus-gauges", self.gauges_tick), "interval", id="bus-gauges", seconds=15
        )
        for job in self.parts.jobs:
            scheduler.add_job(
                self._tracked(job.name, self._guarded(job)),
                "interval",
                id=job.name,
                seconds=job.seconds,
                next_run_time=datetime.now(UTC) if job.run_at_start else None,
            )
        return scheduler

    async def run(self, stop: asyncio.Event, grace_s: float = STOP_GRACE_S) -> None:
        scheduler = self._scheduler()
        scheduler.start()
        self.beat()
        log.info(
            "worker.started",
            service=self.definition.name,
            consumer=self.settings.bus.bus_consumer_name,
        )
        try:
            if self.consumer is not None:
                await self.consumer.run(stop)
            else:
                await stop.wait()
        finally:
            await self._drain(scheduler, grace_s)
            log.info("worker.stopped", service=self.definition.name)


def _not_a_skip(record: logging.LogRecord) -> bool:
    return "maximum number of running instances" not in record.getMessage()


def quiet_apscheduler() -> None:
    """APScheduler logs every run of every tick at INFO: several lines a second of noise.
    And a tick still running when its next is due is skipped (max_instances=1, by design:
    a relay or release pass drains everything due); under a burst it warns of each skip,
    four lines a second per tick. Failures are still logged (worker.job_failed)."""
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if _not_a_skip not in scheduler_log.filters:
        scheduler_log.addFilter(_not_a_skip)


async def run_worker(definition: ServiceDefinition, settings: Settings) -> None:
    configure_logging(definition.name, settings.log.log_level, settings.log.log_format)
    quiet_apscheduler()
    if not settings.bus.redis_url:
        raise SystemExit("REDIS_URL is not set: the worker needs the bus")
    db = Database.from_settings(settings.database, definition.name)
    redis = connect_redis(settings.bus.redis_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if settings.service.worker_metrics_port:
        # Workers have no HTTP app: prometheus-client's own server thread serves /metrics.
        start_http_server(settings.service.worker_metrics_port, addr=settings.service.service_host)
    parts = await definition.worker_setup(db, settings) if definition.worker_setup else None
    if settings.service.gc_freeze:
        freeze_startup_heap()  # before the first burst: shared.heap says why
    try:
        await Worker(definition, settings, db, redis, parts).run(stop)
    finally:
        if parts is not None and parts.aclose is not None:
            await parts.aclose()
        await redis.aclose()
        await db.dispose()
