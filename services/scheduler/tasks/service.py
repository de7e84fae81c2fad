"""The task rules behind the routes: lists in the caller's scope, one task with its signals
and notes, claiming, assigning, moving its status, and notes signed with the writer's name.

A task of a clinic the caller does not serve is "not found", never "forbidden".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.alert_followups import FollowupIn
from services.scheduler.models import Patient
from services.scheduler.patients import Scheduler
from services.scheduler.tasks.models import Task, TaskNote, TaskSignal
from services.scheduler.tasks.rules import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    is_contact,
    move_refused,
    overdue,
)
from services.scheduler.tasks.schemas import NoteOut, SignalOut, TaskDetail, TaskOut, TaskPatch
from services.scheduler.tasks.staff import Member, by_login, may_follow_up, member
from shared.access.authors import author_name
from shared.access.tokens import Principal
from shared.errors import Conflict, InvalidInput, NotFound


@dataclass(frozen=True)
class TaskFilter:
    mine: bool = False
    clinic_id: int | None = None
    patient_id: int | None = None
    status: str | None = None
    kind: str | None = None
    overdue: bool | None = None
    after_id: int | None = None
    limit: int = 100


def task_out(task: Task, now: datetime) -> TaskOut:
    return TaskOut(
        id=task.id,
        clinic_id=task.clinic_id,
        patient_id=task.patient_id,
        kind=task.kind,
        status=task.status,
        outcome=task.outcome,
        assignee_staff_id=task.assignee_staff_id,
        assignee=task.assignee_name,
        signal_count=task.signal_count,
        signalled_at=task.signalled_at,
        due_at=task.due_at,
        overdue=overdue(task.status, task.due_at, now),
        first_contact_at=task.first_contact_at,
        closed_at=task.closed_at,
        escalated_at=task.escalated_at,
        escalation_attempts=task.escalation_attempts,
        escalation_error=task.escalation_error,
        created_at=task.created_at,
        updated_at=task.updated_at,
    )


def note_out(note: TaskNote) -> NoteOut:
    return NoteOut(
        id=note.id,
        task_id=note.task_id,
        outcome=note.outcome,
        text=note.text,
        author=note.author,
        author_name=note.author_name,
        created_at=note.created_at,
    )


async def list_tasks(ctx: Scheduler, principal: Principal, wanted: TaskFilter) -> list[TaskOut]:
    now = ctx.clock()
    query: Select[Task] = select(Task).order_by(Task.id).limit(wanted.limit)
    if wanted.clinic_id is not None:
        if not principal.can_access_clinic(wanted.clinic_id):
            raise NotFound(f"no clinic {wanted.clinic_id}")
        query = query.where(Task.clinic_id == wanted.clinic_id)
    elif not principal.all_clinics:
        query = query.where(Task.clinic_id.in_(principal.clinic_ids))
    if wanted.mine:
        if principal.staff_id is None:
            raise InvalidInput("mine: this token names no staff member (sign in to the console)")
        query = query.where(Task.assignee_staff_id == principal.staff_id)
    if wanted.status is not None:
        query = query.where(Task.status == wanted.status)
    if wanted.kind is not None:
        query = query.where(Task.kind == wanted.kind)
    if wanted.overdue is True:
        query = query.where(Task.status.in_(OPEN_STATUSES), Task.due_at < now)
    elif wanted.overdue is False:
        query = query.where((Task.status.in_(CLOSED_STATUSES)) | (Task.due_at >= now))
    if wanted.after_id is not None:
        query = query.where(Task.id > wanted.after_id)
    async with ctx.db.sessions() as session:
        if wanted.patient_id is not None:
            patient = await session.get(Patient, wanted.patient_id)
            if patient is None or not principal.can_access_clinic(patient.clinic_id):
                raise NotFound(f"no patient {wanted.patient_id}")
            query = query.where(Task.patient_id == wanted.patient_id)
        return [task_out(t, now) for t in (await session.execute(query)).scalars()]


async def _load(
    session: AsyncSession, principal: Principal, task_id: int, lock: bool = False
) -> Task:
    task = await session.get(Task, task_id, with_for_update=lock)
    if task is None or not principal.can_access_clinic(task.clinic_id):
        raise NotFound(f"no task {task_id}")
    return task


async def get_task(ctx: Scheduler, principal: Principal, task_id: int) -> TaskDetail:
    async with ctx.db.sessions() as session:
        task = await _load(session, principal, task_id)
        signals = (
            await session.execute(
                select(TaskSignal).where(TaskSignal.task_id == task.id).order_by(TaskSignal.id)
            )
        ).scalars()
        notes = (
            await session.execute(
                select(TaskNote).where(TaskNote.task_id == task.id).order_by(TaskNote.id)
            )
        ).scalars()
        out = task_out(task, ctx.clock())
        return TaskDetail(
            **msgspec.structs.asdict(out),
            signals=[
                SignalOut(
                    signal_key=s.signal_key,
                    kind=s.kind,
                    detail=s.detail,
                    signalled_at=s.signalled_at,
                    received_at=s.received_at,
                )
                for s in signals
            ],
            notes=[note_out(n) for n in notes],
        )


async def _new_assignee(
    ctx: Scheduler, principal: Principal, task: Task, data: TaskPatch
) -> Member | msgspec.UnsetType | None:
    """Whom the patch gives the task to: a member, None (nobody), or UNSET (unchanged)."""
    if data.claim and data.assignee is not msgspec.UNSET:
        raise InvalidInput("claim: send claim or assignee, not both")
    if data.claim:
        staff_id = principal.staff_id  # the person a console sign-in minted the token for
        found = None if staff_id is None else await member(ctx.access_db, staff_id)
        if not may_follow_up(found, task.clinic_id):
            raise InvalidInput("claim: this token names no staff member who serves the clinic")
        assert found is not None
        if task.assignee_staff_id not in (None, found.id):
            raise Conflict(f"task {task.id} is assigned to {task.assignee_name}: assign it instead")
        return found
    if data.assignee is msgspec.UNSET or data.assignee is None:
        return data.assignee
    found = await by_login(ctx.access_db, data.assignee)
    if not may_follow_up(found, task.clinic_id):
        # The same answer whether the login does not exist or serves another clinic.
        raise InvalidInput(
            f"assignee: no active staff member of this clinic has login {data.assignee!r}"
        )
    return found


async def update_task(
    ctx: Scheduler, principal: Principal, task_id: int, data: TaskPatch
) -> TaskDetail:
    async with ctx.db.sessions() as session:
        await _load(session, principal, task_id)  # 404 before reading staff accounts
        task = await session.get(Task, task_id)
        assert task is not None
    chosen = await _new_assignee(ctx, principal, task, data)
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        task = await _load(session, principal, task_id, lock=True)
        if data.status is not None:
            refused = move_refused(task.status, data.status, admin=principal.all_clinics)
            if refused is not None:
                raise Conflict(refused)
            if data.status != task.status:
                task.status = data.status
                task.closed_at = now if data.status in CLOSED_STATUSES else None
        if is_contact(data.status, None) and task.first_contact_at is None:
            task.first_contact_at = now
        if data.outcome is not None:
            task.outcome = data.outcome
        if chosen is not msgspec.UNSET:
            task.assignee_staff_id = None if chosen is None else chosen.id
            task.assignee_name = None if chosen is None else chosen.label
            task.assign_pending = False
        task.updated_at = now
    return await get_task(ctx, principal, task_id)


async def add_note(ctx: Scheduler, principal: Principal, task_id: int, data: FollowupIn) -> NoteOut:
    name = await author_name(ctx.access_db, principal.token_id)
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        task = await _load(session, principal, task_id, lock=True)
        note = TaskNote(
            task_id=task.id,
            outcome=data.outcome,
            text=data.text,
            author=principal.token_id,
            author_name=name,
            created_at=now,
        )
        session.add(note)
        if data.outcome is not None:
            task.outcome = data.outcome
        if is_contact(None, data.outcome) and task.first_contact_at is None:
            task.first_contact_at = now
        task.updated_at = now
        await session.flush()
        return note_out(note)
