"""The one way a task is made: `raise_signal`, called inside the caller's transaction.

A signal names its kind, the patient and a key unique to the fact it reports (an alert's
id, a need's id, an event's id): the same key twice adds nothing, so a redelivered event
or a sweep that runs twice makes no extra task. A signal for a patient who already has an
open task of that kind is added to it instead of opening a second one; the partial unique
index `ux_tasks_open_per_kind` settles a race between two workers.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.models import Patient
from services.scheduler.tasks.models import Task, TaskSettings, TaskSignal
from services.scheduler.tasks.rules import OPEN_STATUSES, check_kind, due_at, due_minutes
from shared.logging import get_logger

log = get_logger(__name__)
MAX_KEY = 120
MAX_DETAIL = 200


async def raise_signal(
    session: AsyncSession,
    *,
    kind: str,
    clinic_id: int,
    patient_id: int,
    signal_key: str,
    signalled_at: datetime,
    detail: str | None = None,
) -> int:
    """The id of the task that holds this signal: found by its key, an open task of the
    same kind for the patient (the signal is added to it), or a new one due by the
    clinic's rule. Raises ValueError for an unknown kind, a bad key or a naive time, and
    LookupError for an unknown patient. `detail` is a short code-like note (an alert id,
    a category), never a patient's words."""
    check_kind(kind)
    if not 1 <= len(signal_key) <= MAX_KEY:
        raise ValueError(f"signal_key must have 1-{MAX_KEY} characters")
    if signalled_at.tzinfo is None:
        raise ValueError("signalled_at needs a time zone")
    seen = await _task_of_signal(session, signal_key)
    if seen is not None:
        return seen
    now = datetime.now(UTC)
    task_id = await _open_task(session, patient_id, kind)
    if task_id is None:
        task_id = await _new_task(session, kind, clinic_id, patient_id, signalled_at, now)
    else:
        await session.execute(
            update(Task)
            .where(Task.id == task_id)
            .values(signal_count=Task.signal_count + 1, updated_at=now)
        )
    try:
        async with session.begin_nested():
            session.add(
                TaskSignal(
                    task_id=task_id,
                    signal_key=signal_key,
                    kind=kind,
                    detail=detail[:MAX_DETAIL] if detail else None,
                    signalled_at=signalled_at,
                    received_at=now,
                )
            )
    except IntegrityError:  # the same signal, committed by another worker meanwhile
        found = await _task_of_signal(session, signal_key)
        if found is None:
            raise
        return found
    return task_id


async def _task_of_signal(session: AsyncSession, signal_key: str) -> int | None:
    return await session.scalar(
        select(TaskSignal.task_id).where(TaskSignal.signal_key == signal_key)
    )


async def _open_task(session: AsyncSession, patient_id: int, kind: str) -> int | None:
    return await session.scalar(
        select(Task.id).where(
            Task.patient_id == patient_id, Task.kind == kind, Task.status.in_(OPEN_STATUSES)
        )
    )


async def _new_task(
    session: AsyncSession,
    kind: str,
    clinic_id: int,
    patient_id: int,
    signalled_at: datetime,
    now: datetime,
) -> int:
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise LookupError(f"no patient {patient_id}")
    settings = await session.get(TaskSettings, clinic_id)
    minutes = due_minutes(settings.due_minutes if settings else None, kind)
    task = Task(
        clinic_id=clinic_id,
        patient_id=patient_id,
        kind=kind,
        status="open",
        assign_pending=settings is not None and settings.assignment != "pick_up",
        signal_count=1,
        signalled_at=signalled_at,
        due_at=due_at(signalled_at, minutes, patient.time_zone),
        escalation_attempts=0,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(task)
    except IntegrityError:  # another worker opened the same kind for this patient first
        found = await _open_task(session, patient_id, kind)
        if found is None:
            raise
        await session.execute(
            update(Task)
            .where(Task.id == found)
            .values(signal_count=Task.signal_count + 1, updated_at=now)
        )
        return found
    log.info("tasks.opened", task_id=task.id, kind=kind, clinic_id=clinic_id)
    return task.id
