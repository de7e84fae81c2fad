"""The assignment tick: tasks of clinics whose rule assigns them (`round_robin` among the
clinic's coordinators, `fixed` to one named person) get their assignee here, in the
worker, because `raise_signal` runs inside other transactions of the scheduler's database
and cannot read staff accounts (the `access` schema may be another database).

`pick_up` clinics' tasks stay unassigned until someone claims one. The settings row is
locked while a clinic's tasks are handed out, so two workers keep one round-robin turn.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from services.scheduler.tasks.models import Task, TaskSettings
from services.scheduler.tasks.staff import Member, coordinators, member
from shared.db import Database
from shared.logging import get_logger

log = get_logger(__name__)


def next_in_turn(candidates: list[Member], last_id: int | None) -> Member:
    """Round robin by staff id: the first after the last one given a task."""
    after = [m for m in candidates if last_id is not None and m.id > last_id]
    return (after or candidates)[0]


async def assign_pending(db: Database, access_db: Database, now: datetime, batch: int = 200) -> int:
    """Assign waiting tasks clinic by clinic; returns how many were assigned."""
    async with db.sessions() as session:
        clinic_ids = list(
            (
                await session.execute(
                    select(Task.clinic_id).where(Task.assign_pending.is_(True)).distinct()
                )
            ).scalars()
        )
    assigned = 0
    for clinic_id in clinic_ids:
        try:
            assigned += await _assign_clinic(db, access_db, clinic_id, now, batch)
        except Exception as exc:  # one clinic's trouble must not stop the others
            log.error("tasks.assign_failed", clinic_id=clinic_id, error=type(exc).__name__)
    return assigned


async def _assign_clinic(
    db: Database, access_db: Database, clinic_id: int, now: datetime, batch: int
) -> int:
    async with db.sessions() as session:
        settings = await session.get(TaskSettings, clinic_id)
    candidates: list[Member] = []
    if settings is not None and settings.assignment == "round_robin":
        candidates = await coordinators(access_db, clinic_id)
    elif settings is not None and settings.assignment == "fixed" and settings.fixed_staff_id:
        fixed = await member(access_db, settings.fixed_staff_id)
        candidates = [fixed] if fixed is not None and fixed.serves(clinic_id) else []
    async with db.transaction() as session:
        locked = await session.get(TaskSettings, clinic_id, with_for_update=True)
        waiting = select(Task).where(Task.clinic_id == clinic_id, Task.assign_pending.is_(True))
        tasks = list(
            (
                await session.execute(
                    waiting.order_by(Task.id).limit(batch).with_for_update(skip_locked=True)
                )
            ).scalars()
        )
        if locked is None or locked.assignment == "pick_up" or not candidates:
            if locked is not None and locked.assignment != "pick_up":
                log.warning("tasks.no_assignee", clinic_id=clinic_id, rule=locked.assignment)
            # Left for someone to pick up: the rule changed, or no one fits it.
            await session.execute(
                update(Task).where(Task.id.in_([t.id for t in tasks])).values(assign_pending=False)
            )
            return 0
        last, given = locked.last_assigned_staff_id, 0
        for task in tasks:
            if task.assignee_staff_id is None and task.status == "open":
                chosen = next_in_turn(candidates, last)
                task.assignee_staff_id, task.assignee_name = chosen.id, chosen.label
                task.updated_at = now
                last, given = chosen.id, given + 1
            task.assign_pending = False
        locked.last_assigned_staff_id = last
        return given
