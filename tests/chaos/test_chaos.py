"""Chaos, bounded for CI: the scheduler's real worker processes on PostgreSQL and a private
Redis, a fake Twilio failing 30% of calls (503 and 429) with latency, and a burst of a few
thousand reminders. `mmt chaos` runs the same with 50,000 and a PostgreSQL restart.

What must hold whatever happens: every planned reminder ends in a final state (delivered,
or failed with a reason); none is lost; the provider sees at most as many duplicates as
there were messages in flight at the faults; no consumer is left with pending commands;
a poison command is visible and replayable in the dead letters.
"""

from __future__ import annotations

import json

import pytest

from mmt.chaos.plan import ChaosPlan
from mmt.chaos.run import run_chaos
from tests.conftest import Backends

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_a_worker_killed_and_redis_wiped_and_restarted_mid_burst_lose_nothing(
    backends: Backends,
) -> None:
    plan = ChaosPlan(
        reminders=2000,
        spread_s=100,  # still falling due when the wipes come, past the kill's 60 s
        kill_worker_at=0.1,
        flush_redis_at=0.5,
        restart_redis_at=0.6,
        # The wipe comes within 60 s of the kill, while the dead worker's messages are still
        # "sending" and their commands may be gone with Redis: the stalled-message sweep
        # (sweeps.rescue_stalled) must bring them back.
        timeout_s=480,
        # With 30 % of sends refused, a few of 2,000 fail four times running; at the
        # default backoff (10, 20, 40, 80 s) they alone held the run 2 minutes past its
        # faults. Retries still wait, doubling, from 2 s.
        retry_backoff_s=1.0,
    )
    figures = run_chaos(backends.database_url, plan)
    assert figures.problems == [], json.dumps(figures.as_dict())
    assert figures.lost == 0
    assert set(figures.states) <= {"delivered", "sent", "failed"}, figures.states
    assert figures.states.get("delivered", 0) > plan.reminders * 0.9, figures.states
    assert [e["fault"] for e in figures.faults] == ["kill_worker", "flush_redis", "restart_redis"]
    assert figures.provider_duplicates <= figures.in_flight_at_faults
    # The provider really failed and throttled: retries, not luck, delivered the burst.
    assert figures.provider_server_errors > 0
    assert figures.provider_rate_limited > 0
    assert figures.pending_entries == 0
    assert figures.dead_letters >= 1
    assert figures.dead_letter_replayed


def test_two_replicas_planning_and_releasing_the_same_patients_send_each_reminder_once(
    backends: Backends,
) -> None:
    plan = ChaosPlan(
        reminders=1500,
        spread_s=5,
        workers=2,
        error_rate=0,
        rate_limit_rate=0,
        kill_worker_at=None,
        flush_redis_at=None,
        poison=False,
        timeout_s=240,
    )
    figures = run_chaos(backends.database_url, plan)
    assert figures.problems == [], json.dumps(figures.as_dict())
    assert figures.provider_duplicates == 0
    assert figures.provider_accepted == plan.reminders
    # Both replicas planned today and tomorrow for every patient at once: one each.
    assert figures.planned_ahead == 2 * plan.reminders
