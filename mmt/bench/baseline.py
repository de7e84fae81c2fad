"""`mmt bench baseline`: the same burst done the way one would without this suite.

APScheduler 3 with one date job per reminder in a SQLAlchemyJobStore on the same
PostgreSQL (through psycopg: the job store is synchronous), each job sending through the
same Twilio adapter to the same fake provider and recording the message as sent. Jobs are
added while the scheduler is paused (adding is measured on its own), all due at the moment
it resumes; from then to the last recorded send is the figure. The suite's dispatch bench
runs on the same number of reminders in the same run, for the ratio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import create_engine

from mmt.bench.common import (
    BODY,
    fake_twilio,
    machine,
    peak_rss_mb,
    percentiles,
    phone,
    ratio,
    throwaway,
    twilio_channel,
)
from mmt.bench.dispatch import bench_dispatch
from mmt.bench.raw import asyncpg_dsn
from shared.channels.base import OutboundMessage
from shared.channels.twilio_sms import TwilioSmsChannel
from shared.db import Database
from shared.logging import configure_logging


@dataclass
class _Run:
    """What the jobs share: APScheduler stores a job as a reference to a module-level
    function and pickled arguments, so the connection pool and channel live here."""

    channel: TwilioSmsChannel
    pool: Any  # asyncpg.Pool
    schema: str
    due: float
    n: int
    done: asyncio.Event = field(default_factory=asyncio.Event)
    lateness: list[float] = field(default_factory=list)  # of the reminders sent
    failed: dict[str, int] = field(default_factory=dict)  # the others, by error
    ended: int = 0
    # Sends at once: None (as APScheduler runs coroutine jobs: every due job at once, no
    # bound but the HTTP pool), or a limit a careful user would put in the job.
    limit: asyncio.Semaphore | None = None

    def end_one(self, failure: str | None = None) -> None:
        """A job is over: sent (no `failure`), or failed for the reason given."""
        if failure is not None:
            self.failed[failure] = self.failed.get(failure, 0) + 1
        self.ended += 1
        if self.ended == self.n:
            self.done.set()


_RUN: _Run | None = None


async def send_reminder(i: int) -> None:
    """One job: send reminder i and record it, as a user's job function would."""
    run = _RUN
    assert run is not None
    failure = None
    try:
        async with run.limit or contextlib.nullcontext():
            result = await run.channel.send(OutboundMessage(f"b{i}", phone(i), BODY, "dose", {}))
        async with run.pool.acquire() as conn:
            await conn.execute(
                # The schema is our own generated identifier, never input.
                f'UPDATE "{run.schema}".messages SET state = $1, provider_id = $2, '  # noqa: S608
                "sent_at = now() WHERE id = $3",
                "sent",
                result.provider_id,
                i,
            )
        run.lateness.append(time.perf_counter() - run.due)
    except Exception as exc:
        # Counted, not raised: APScheduler would log it and forget the job, and the run
        # would wait for it forever. At 200,000 every send timed out (all started at once).
        failure = f"{type(exc).__name__}: {exc}"[:120]
    finally:
        run.end_one(failure)


def _missed(event: Any) -> None:
    """A job APScheduler skipped as misfired never runs: it ends here, as a failure."""
    if _RUN is not None:
        _RUN.end_one("missed (misfire_grace_time)")


async def bench_baseline(
    database_url: str, redis_url: str, n: int, *, compare: bool = True, in_flight: int = 0
) -> dict[str, Any]:
    from apscheduler.events import EVENT_JOB_MISSED
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    global _RUN
    configure_logging("bench", "WARNING")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job otherwise
    async with throwaway(redis_url) as place:
        schema = f"{place.prefix}baseline"
        engine = create_engine(database_url.replace("+asyncpg", "+psycopg", 1))
        pool = await asyncpg.create_pool(asyncpg_dsn(database_url), min_size=2, max_size=10)
        try:
            async with pool.acquire() as conn:
                await conn.execute(f'CREATE SCHEMA "{schema}"')
                await conn.execute(
                    f'CREATE TABLE "{schema}".messages (id int PRIMARY KEY, '
                    "state text, provider_id text, sent_at timestamptz)"
                )
                await conn.executemany(
                    f"INSERT INTO \"{schema}\".messages (id, state) VALUES ($1, 'queued')",  # noqa: S608
                    [(i,) for i in range(n)],
                )
            with fake_twilio() as fake:
                channel = twilio_channel(fake.url)
                scheduler = AsyncIOScheduler(
                    jobstores={"default": SQLAlchemyJobStore(engine=engine, tableschema=schema)},
                    # A generous grace time, as the library's docs advise for bursts: the
                    # default of 1 s would drop most of them as misfired.
                    job_defaults={"misfire_grace_time": 3600, "coalesce": False},
                )
                scheduler.add_listener(_missed, EVENT_JOB_MISSED)
                scheduler.start(paused=True)
                due = datetime.now(UTC)
                adding = time.perf_counter()
                for i in range(n):
                    scheduler.add_job(send_reminder, "date", run_date=due, args=[i], id=f"r{i}")
                add_s = time.perf_counter() - adding
                _RUN = _Run(channel, pool, schema, time.perf_counter(), n)
                _RUN.limit = asyncio.Semaphore(in_flight) if in_flight else None
                scheduler.resume()
                await _RUN.done.wait()
                total = time.perf_counter() - _RUN.due
                sent, failed = len(_RUN.lateness), dict(_RUN.failed)
                lateness = {
                    **percentiles(_RUN.lateness, 50, 99),
                    "max": max(_RUN.lateness, default=None),
                }
                scheduler.shutdown(wait=False)
                await channel.aclose()
                provider = fake.stats()
                fake_rss = peak_rss_mb(fake.process.pid)
            db = Database(database_url, "scheduler", schema_prefix=place.prefix)
            facts = await machine(db, place.redis)
            await db.dispose()
        finally:
            _RUN = None
            async with pool.acquire() as conn:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await pool.close()
            engine.dispose()
    baseline_rate = sent / total  # reminders sent a second; failures are not a rate
    baseline_rss = peak_rss_mb()  # before the suite runs in this same process
    suite = await bench_dispatch(database_url, redis_url, n, yardsticks=False) if compare else None
    return {
        "benchmark": "baseline",
        "reminders": n,
        "in_flight": in_flight or None,
        "apscheduler": {
            "add_s": round(add_s, 3),
            "jobs_added_per_second": round(n / add_s, 1),
            "total_s": round(total, 3),
            "per_second": round(baseline_rate, 1),
            "sent": sent,
            "failed": failed,
            "lateness_s": lateness,
            "provider_accepted": provider.get("total_accepted", 0),
        },
        "suite_per_second": suite["per_second"] if suite else None,
        "suite_lateness_s": suite["lateness_s"] if suite else None,
        "ratio_suite_to_baseline": ratio(suite["per_second"], baseline_rate) if suite else None,
        "peak_rss_mb": {"baseline": baseline_rss, "fake_twilio": fake_rss},
        "machine": facts,
    }
