"""A clinic's task settings: due times per kind, the assignment rule and the lead whom
overdue tasks escalate to. A clinic never set uses the defaults (rules.py)."""

from __future__ import annotations

from sqlalchemy import update

from services.scheduler.patients import Scheduler
from services.scheduler.tasks.models import Task, TaskSettings
from services.scheduler.tasks.rules import DEFAULT_DUE_MINUTES, KINDS
from services.scheduler.tasks.schemas import DueMinutes, TaskSettingsIn, TaskSettingsOut
from services.scheduler.tasks.staff import Member, by_login, may_follow_up, member
from shared.access.models import Clinic
from shared.access.tokens import Principal
from shared.errors import InvalidInput, NotFound


async def _check_clinic(ctx: Scheduler, principal: Principal, clinic_id: int) -> None:
    if not principal.can_access_clinic(clinic_id):
        raise NotFound(f"no clinic {clinic_id}")
    async with ctx.access_db.sessions() as session:
        if await session.get(Clinic, clinic_id) is None:
            raise NotFound(f"no clinic {clinic_id}")


async def _label(ctx: Scheduler, staff_id: int | None) -> str | None:
    found = None if staff_id is None else await member(ctx.access_db, staff_id)
    return None if found is None else found.label


async def _out(ctx: Scheduler, clinic_id: int, row: TaskSettings | None) -> TaskSettingsOut:
    overrides = row.due_minutes if row is not None else {}
    due = DueMinutes(**{kind: overrides.get(kind, DEFAULT_DUE_MINUTES[kind]) for kind in KINDS})
    return TaskSettingsOut(
        clinic_id=clinic_id,
        assignment=row.assignment if row is not None else "pick_up",
        fixed_staff_id=row.fixed_staff_id if row is not None else None,
        fixed_assignee=await _label(ctx, row.fixed_staff_id if row is not None else None),
        lead_staff_id=row.lead_staff_id if row is not None else None,
        lead=await _label(ctx, row.lead_staff_id if row is not None else None),
        due_minutes=due,
        updated_at=row.updated_at if row is not None else None,
    )


async def get_task_settings(
    ctx: Scheduler, principal: Principal, clinic_id: int
) -> TaskSettingsOut:
    await _check_clinic(ctx, principal, clinic_id)
    async with ctx.db.sessions() as session:
        row = await session.get(TaskSettings, clinic_id)
    return await _out(ctx, clinic_id, row)


async def _person(ctx: Scheduler, field: str, login: str | None, clinic_id: int) -> Member | None:
    if login is None:
        return None
    found = await by_login(ctx.access_db, login)
    if not may_follow_up(found, clinic_id):
        raise InvalidInput(f"{field}: no active staff member of this clinic has login {login!r}")
    return found


async def put_task_settings(
    ctx: Scheduler, principal: Principal, clinic_id: int, data: TaskSettingsIn
) -> TaskSettingsOut:
    await _check_clinic(ctx, principal, clinic_id)
    if data.assignment == "fixed" and data.fixed_assignee is None:
        raise InvalidInput("fixed_assignee: required when assignment is fixed")
    if data.assignment != "fixed" and data.fixed_assignee is not None:
        raise InvalidInput("fixed_assignee: only with assignment fixed")
    fixed = await _person(ctx, "fixed_assignee", data.fixed_assignee, clinic_id)
    lead = await _person(ctx, "lead", data.lead, clinic_id)
    overrides = {
        kind: minutes for kind in KINDS if (minutes := getattr(data.due_minutes, kind)) is not None
    }
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        row = await session.get(TaskSettings, clinic_id, with_for_update=True)
        if row is None:
            row = TaskSettings(clinic_id=clinic_id)
            session.add(row)
        row.assignment = data.assignment
        row.fixed_staff_id = None if fixed is None else fixed.id
        row.lead_staff_id = None if lead is None else lead.id
        row.due_minutes = overrides
        row.updated_by, row.updated_at = principal.token_id, now
        # Open tasks nobody holds follow the new rule at the next assignment tick.
        await session.execute(
            update(Task)
            .where(
                Task.clinic_id == clinic_id,
                Task.status == "open",
                Task.assignee_staff_id.is_(None),
            )
            .values(assign_pending=data.assignment != "pick_up")
        )
        await session.flush()
        return await _out(ctx, clinic_id, row)
