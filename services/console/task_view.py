"""Follow-up task lists as the pages show them, from the API's answers: what needs doing
first (open and overdue, the longest overdue first; then open by due time; then the closed,
the latest first), each with the patient's clinic number and the due time at the clinic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from services.console.care_api import OPEN_STATUSES, PatientLabel, Task

T = TypeVar("T", bound=Task)


def tasks_first(tasks: Sequence[T]) -> list[T]:
    """Overdue first, then open by due time, then closed (the latest closed first)."""
    open_ = sorted((t for t in tasks if t.status in OPEN_STATUSES), key=lambda t: t.due_at)
    closed = sorted(
        (t for t in tasks if t.status not in OPEN_STATUSES),
        key=lambda t: t.closed_at or t.due_at,
        reverse=True,
    )
    return [t for t in open_ if t.overdue] + [t for t in open_ if not t.overdue] + closed


@dataclass(frozen=True)
class TaskRow:
    task: Task
    patient: PatientLabel | None  # None: not a patient of this clinic any more
    due: str  # the due time at the clinic, YYYY-MM-DD HH:MM


def local(at: datetime, zone: str) -> str:
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def task_rows(tasks: Sequence[Task], labels: dict[int, PatientLabel], zone: str) -> list[TaskRow]:
    return [TaskRow(t, labels.get(t.patient_id), local(t.due_at, zone)) for t in tasks_first(tasks)]
