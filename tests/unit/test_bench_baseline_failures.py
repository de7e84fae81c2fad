"""The APScheduler baseline counts a job that fails or is skipped and still ends its run
(at 200,000 every send timed out, and the run used to wait for them forever)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from mmt.bench import baseline as bench_baseline
from shared.channels.base import FailureKind, SendFailed


class _TimingOut:
    async def send(self, message: Any) -> Any:
        raise SendFailed(FailureKind.RETRYABLE, "twilio: network error (timed out)")


async def test_failed_and_missed_jobs_end_the_run_as_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = bench_baseline._Run(_TimingOut(), None, "unused", time.perf_counter(), 3)  # type: ignore[arg-type]
    monkeypatch.setattr(bench_baseline, "_RUN", run)
    await bench_baseline.send_reminder(0)
    await bench_baseline.send_reminder(1)
    assert not run.done.is_set()
    bench_baseline._missed(object())
    assert run.done.is_set()
    assert run.lateness == []
    assert run.failed == {
        "SendFailed: twilio: network error (timed out)": 2,
        "missed (misfire_grace_time)": 1,
    }


class _Slow:
    def __init__(self) -> None:
        self.now = self.most = 0

    async def send(self, message: Any) -> Any:
        self.now += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(0.01)
        self.now -= 1
        return SimpleNamespace(provider_id="SM1")


class _Pool:
    """asyncpg's pool as the job uses it: acquire() -> a connection that executes."""

    def __init__(self) -> None:
        self.updates = 0

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        yield self

    async def execute(self, *_: Any) -> None:
        self.updates += 1


async def test_in_flight_bounds_the_sends_a_careful_user_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    channel, pool = _Slow(), _Pool()
    run = bench_baseline._Run(channel, pool, "unused", time.perf_counter(), 6)  # type: ignore[arg-type]
    run.limit = asyncio.Semaphore(2)
    monkeypatch.setattr(bench_baseline, "_RUN", run)
    await asyncio.gather(*(bench_baseline.send_reminder(i) for i in range(6)))
    assert channel.most == 2
    assert (len(run.lateness), pool.updates, run.failed) == (6, 6, {})
    assert run.done.is_set()
