"""MI sessions coming due become follow-up tasks (issue 22 part 2): the worker's tick raises
one `mi_session_due` signal per client and session number, however often it runs; the
next session raises its own when it comes due; no target, no task. PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from services.scheduler.mi.due import raise_due_sessions
from services.scheduler.mi.models import MiSession
from services.scheduler.mi.schemas import ClinicTargetIn
from services.scheduler.mi.targets import set_clinic_target
from services.scheduler.models import Patient
from tests.conftest import Backends
from tests.integration.schedutil import ADMIN
from tests.integration.taskutil import World, either_world, signal_keys, tasks_of


@pytest.fixture(params=["postgresql", "sqlite"])
async def world(
    request: pytest.FixtureRequest,
    backends: Backends,
    isolation: str,
    tmp_path: Path,
    secrets_env: dict[str, str],
) -> AsyncIterator[World]:
    async for made in either_world(request, backends, isolation, tmp_path):
        yield made


async def test_each_session_due_raises_one_task_however_often_the_tick_runs(world: World) -> None:
    await set_clinic_target(world.ctx, ADMIN, world.clinic_a, ClinicTargetIn(sessions=2))
    async with world.db.sessions() as session:
        patient = await session.get(Patient, world.patient_a)
        assert patient is not None
        enrolled = patient.enrolled_at
    start = enrolled.astimezone(ZoneInfo("Asia/Shanghai")).date()
    now = enrolled + timedelta(hours=1)

    async with world.db.transaction() as session:  # a discharged client is not asked for
        await session.execute(
            update(Patient).where(Patient.id == world.patient_a2).values(state="discharged")
        )
    # The first session is due from enrolment: a task for the other client of clinic A.
    assert await raise_due_sessions(world.db, now) == 1
    for again in (now, now + timedelta(days=20)):  # later ticks, overdue: nothing more
        assert await raise_due_sessions(world.db, again) == 0
    [task] = await tasks_of(world.db, world.patient_a)
    assert (task.kind, task.clinic_id) == ("mi_session_due", world.clinic_a)
    first = f"mi-session:{world.patient_a}:{start.isoformat()}:1"
    assert await signal_keys(world.db, task.id) == [first]
    assert await tasks_of(world.db, world.patient_a2) == []
    assert await tasks_of(world.db, world.patient_b) == []  # clinic B sets no target

    # Session 1 held: session 2 is due two weeks before its due date, once.
    async with world.db.transaction() as session:
        session.add(
            MiSession(
                patient_id=world.patient_a,
                clinic_id=world.clinic_a,
                held_on=start + timedelta(days=10),
                provider_staff_id=1,
                provider_name="Li (li.na)",
                minutes=20,
                topic="drug_use",
                importance=6,
                confidence=4,
                author="test",
                created_at=now,
            )
        )
    assert await raise_due_sessions(world.db, now + timedelta(days=30)) == 0  # on track
    later = now + timedelta(days=64)
    assert await raise_due_sessions(world.db, later) == 1
    assert await raise_due_sessions(world.db, later) == 0
    keys = [
        key
        for t in await tasks_of(world.db, world.patient_a)
        for key in await signal_keys(world.db, t.id)
    ]
    assert keys == [first, f"mi-session:{world.patient_a}:{start.isoformat()}:2"]
