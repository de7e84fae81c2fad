"""The planner killed mid-tick: a real `release_due` in its own process claims a batch of due
reminders (rows locked, messages not yet written) and is SIGKILLed there. Its transaction
dies with it; another releaser, which skipped the locked rows meanwhile, then releases every
reminder exactly once: nothing lost, nothing queued twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from services.scheduler import planner
from services.scheduler.models import Message, Occurrence
from services.scheduler.settings import SchedulerSettings
from shared.db import Database
from tests.conftest import Backends
from tests.integration.schedutil import clinic, context, enrol

pytestmark = [pytest.mark.usefixtures("secrets_env"), pytest.mark.timeout(120)]
PATIENTS = 40

# The child: the planner's own release, paused (blocking, holding its locks) right after it
# claimed its batch, where a SIGKILL hurts most.
CHILD = """
import asyncio, sys, time
from datetime import UTC, datetime
from services.scheduler import planner
from services.scheduler.planner import release
from services.scheduler.settings import SchedulerSettings
from shared.db import Database

decide = release.decide
def stuck(*args, **kwargs):
    print("claimed", flush=True)
    time.sleep(600)
    return decide(*args, **kwargs)
release.decide = stuck

async def main():
    db = Database(sys.argv[1], "scheduler", schema_prefix=sys.argv[2])
    await planner.release_due(db, SchedulerSettings(), datetime.now(UTC))

asyncio.run(main())
"""


async def test_a_planner_killed_mid_tick_loses_and_doubles_nothing(
    scheduler_db: Database, access_db: Database, backends: Backends, isolation: str
) -> None:
    ctx = context(scheduler_db, access_db)
    yx = await clinic(access_db)
    for n in range(PATIENTS):
        await enrol(ctx, yx, f"{n:04d}", quiet_start="00:00", quiet_end="00:00")
    now = datetime.now(UTC)
    async with scheduler_db.transaction() as session:  # every dose reminder due now
        await session.execute(
            update(Occurrence)
            .where(Occurrence.kind == "dose")
            .values(due_at=now - timedelta(seconds=1), expires_at=now + timedelta(hours=1))
        )
        due = await session.scalar(
            select(func.count()).select_from(Occurrence).where(Occurrence.state == "planned")
        )
    assert due is not None
    assert due >= PATIENTS

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, backends.database_url, isolation],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )
    try:
        assert child.stdout is not None
        line = await asyncio.to_thread(child.stdout.readline)
        assert line.strip() == "claimed", line
        # Meanwhile a second replica skips what the child holds: it must not wait or double.
        meanwhile = await planner.release_due(scheduler_db, SchedulerSettings(), now)
        assert meanwhile.queued + sum(meanwhile.held.values()) == 0
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
    deadline = time.monotonic() + 30
    released = 0
    while released < due and time.monotonic() < deadline:  # PostgreSQL ends the transaction
        result = await planner.release_due(scheduler_db, SchedulerSettings(), now)
        released += result.queued + sum(result.held.values())
        await asyncio.sleep(0.2)
    async with scheduler_db.sessions() as session:
        per_occurrence = (
            await session.execute(
                select(Message.occurrence_id, func.count()).group_by(Message.occurrence_id)
            )
        ).all()
        left = await session.scalar(
            select(func.count()).select_from(Occurrence).where(Occurrence.state == "planned")
        )
    assert released == due
    assert len(per_occurrence) == due
    assert all(count == 1 for _, count in per_occurrence)
    assert left == 0
