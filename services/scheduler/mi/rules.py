"""The MI target's arithmetic: pure functions of dates, unit-tested without a database.

A target is `target` sessions within a window that opens on randomisation (a study arm's
target) or enrolment (a clinic's default) and closes `within_days` later (inclusive). The
sessions are spread over it: the first is due within DUE_LEAD days of the start, the last
before the window's final DUE_LEAD days (room to catch up), any between evenly spaced. A
session is `due` from DUE_LEAD days before its due date (the first: from the start), so a
provider is asked in time, and `overdue` after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Status = Literal["met", "on_track", "due", "overdue", "missed"]
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]
DUE_LEAD = 14  # days: the first session within two weeks; two weeks' notice for the others


@dataclass(frozen=True)
class Window:
    """Where a patient's target comes from and the days it covers."""

    target: int
    starts_on: date
    ends_on: date  # inclusive
    source: Literal["study", "clinic"]
    study_id: int | None = None
    arm: str | None = None

    @classmethod
    def opening(
        cls,
        starts_on: date,
        target: int,
        within_days: int,
        source: Literal["study", "clinic"],
        study_id: int | None = None,
        arm: str | None = None,
    ) -> Window:
        ends_on = starts_on + timedelta(days=within_days)
        return cls(target, starts_on, ends_on, source, study_id, arm)

    def holds(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on


@dataclass(frozen=True)
class Due:
    number: int  # 1-based: which session of the target
    due_from: date
    due_by: date


def due_dates(window: Window) -> list[Due]:
    """When each session of the target is due (see the module's docstring)."""
    start, end, count = window.starts_on, window.ends_on, window.target
    first = min(start + timedelta(days=DUE_LEAD), end)
    last = max(first, end - timedelta(days=DUE_LEAD))
    span = (last - first).days
    dues = []
    for index in range(count):
        offset = round(index * span / (count - 1)) if count > 1 else 0
        due_by = first + timedelta(days=offset)
        due_from = start if index == 0 else max(start, due_by - timedelta(days=DUE_LEAD))
        dues.append(Due(index + 1, due_from, due_by))
    return dues


@dataclass(frozen=True)
class Progress:
    held: int  # sessions held inside the window, voided ones left out
    status: Status
    next_session: int | None  # the number of the session to hold next, unless met or missed
    next_due_by: date | None


def progress(window: Window, held_on: list[date], today: date) -> Progress:
    """Where a patient stands against the target on `today`, from the dates of the sessions
    held (not voided); sessions outside the window do not count."""
    held = sum(1 for day in held_on if window.holds(day))
    if held >= window.target:
        return Progress(held, "met", None, None)
    if today > window.ends_on:
        return Progress(held, "missed", None, None)
    due = due_dates(window)[held]
    if today > due.due_by:
        status: Status = "overdue"
    elif today >= due.due_from:
        status = "due"
    else:
        status = "on_track"
    return Progress(held, status, due.number, due.due_by)
