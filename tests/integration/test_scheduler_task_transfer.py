"""A patient's open follow-up tasks move with them to another clinic: the new clinic's
rule assigns them and its lead hears of an overdue one; closed tasks stay where they
were done (issue 22)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from services.scheduler import patients
from services.scheduler.schemas import TransferIn
from services.scheduler.tasks.models import Task
from shared.db import Database
from tests.integration.schedutil import ADMIN
from tests.integration.taskutil import make_world, overdue_task, tasks_of


@pytest.mark.usefixtures("secrets_env")
async def test_open_tasks_follow_the_patient_and_closed_ones_stay(
    scheduler_db: Database, access_db: Database
) -> None:
    world = await make_world(scheduler_db, access_db)
    open_id = await overdue_task(world, "need:1")
    done_id = await overdue_task(world, "rating:1", kind="low_ratings")
    async with scheduler_db.transaction() as session:
        await session.execute(
            update(Task)
            .where(Task.id == open_id)
            .values(
                assignee_staff_id=7,
                assignee_name="Li Na (li.na)",
                status="in_progress",
                escalated_at=datetime.now(UTC),
            )
        )
        await session.execute(
            update(Task).where(Task.id == done_id).values(status="done", assignee_staff_id=7)
        )
    await patients.transfer(
        world.ctx, ADMIN, world.patient_a, TransferIn(clinic_id=world.clinic_b, clinic_number="K-9")
    )
    moved = {task.id: task for task in await tasks_of(scheduler_db, world.patient_a)}
    opened, done = moved[open_id], moved[done_id]
    assert (opened.clinic_id, opened.status) == (world.clinic_b, "in_progress")
    assert (opened.assignee_staff_id, opened.assignee_name) == (None, None)
    assert opened.assign_pending is True  # the new clinic's rule hands it out
    assert opened.escalated_at is None  # overdue: its new lead is told again
    assert (done.clinic_id, done.assignee_staff_id) == (world.clinic_a, 7)
