"""APScheduler's per-skip warnings are dropped; its other warnings are kept."""

from __future__ import annotations

import logging

import pytest

from shared.worker import quiet_apscheduler


def test_skipped_ticks_are_not_logged_but_other_warnings_are(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_apscheduler()
    quiet_apscheduler()  # idempotent: one filter
    log = logging.getLogger("apscheduler.scheduler")
    assert len(log.filters) == 1
    with caplog.at_level(logging.WARNING, logger="apscheduler.scheduler"):
        log.warning(
            'Execution of job "Worker.relay_tick" skipped: maximum number of running '
            "instances reached (1)"
        )
        log.warning('Run time of job "Worker.relay_tick" was missed by 0:00:03')
    assert [r.getMessage() for r in caplog.records] == [
        'Run time of job "Worker.relay_tick" was missed by 0:00:03'
    ]
