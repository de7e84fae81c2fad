"""The APScheduler baseline counts a job that fails or is skipped and still ends its run
(at 200,000 every send timed out, and the run used to wait for them forever)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from services.scheduler import bench_baseline
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
