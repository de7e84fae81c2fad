"""The pure rules of follow-up tasks: which kinds exist, when each is due, which status
moves are allowed and what counts as the first contact. No I/O here."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

# Every kind of signal a task may come from; `mi_session_due` is raised by the
# motivational-interviewing sessions (another package), the rest by the scheduler.
Kind = Literal[
    "dropout_risk",
    "urgent_need",
    "open_need",
    "risk_rise",
    "low_ratings",
    "unreachable",
    "missed_doses",
    "mi_session_due",
]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]

Status = Literal["open", "in_progress", "done", "cannot_reach"]
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]
OPEN_STATUSES = ("open", "in_progress")
CLOSED_STATUSES = ("done", "cannot_reach")

Assignment = Literal["pick_up", "round_robin", "fixed"]

END_OF_DAY: None = None  # a due time of "the same day": the end of the patient's local day
THREE_DAYS = 3 * 24 * 60
# Minutes from the signal to the due time; None: the end of that local day.
DEFAULT_DUE_MINUTES: dict[str, int | None] = {
    "dropout_risk": END_OF_DAY,
    "urgent_need": 60,
    "open_need": THREE_DAYS,
    "risk_rise": THREE_DAYS,
    "low_ratings": THREE_DAYS,
    "unreachable": THREE_DAYS,
    "missed_doses": THREE_DAYS,
    "mi_session_due": THREE_DAYS,
}
MIN_DUE_MINUTES = 5
MAX_DUE_MINUTES = 30 * 24 * 60


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return kind


def due_minutes(overrides: dict[str, int | None] | None, kind: str) -> int | None:
    """The clinic's setting for a kind, else the default."""
    if overrides and kind in overrides:
        return overrides[kind]
    return DEFAULT_DUE_MINUTES[kind]


def due_at(signalled_at: datetime, minutes: int | None, time_zone: str) -> datetime:
    """When a task raised at `signalled_at` is due: so many minutes later, or (None) at
    midnight ending that day where the patient is."""
    if minutes is not None:
        return signalled_at + timedelta(minutes=minutes)
    zone = ZoneInfo(time_zone)
    local_day = signalled_at.astimezone(zone).date()
    return datetime.combine(local_day + timedelta(days=1), time(0), zone)


# Who may move a task where: forward only; reopening a closed task is an admin's call
# (it changes what the time-to-contact report counts).
_FORWARD: dict[str, frozenset[str]] = {
    "open": frozenset({"in_progress", "done", "cannot_reach"}),
    "in_progress": frozenset({"open", "done", "cannot_reach"}),
    "done": frozenset(),
    "cannot_reach": frozenset(),
}


def move_refused(current: str, wanted: str, *, admin: bool) -> str | None:
    """Why the status may not move from `current` to `wanted`, or None when it may."""
    if wanted == current:
        return None
    if wanted in _FORWARD[current]:
        return None
    if current in CLOSED_STATUSES and wanted in OPEN_STATUSES:
        return None if admin else "only an admin may reopen a closed task"
    return f"status cannot move from {current} to {wanted}"


def is_contact(status: str | None, note_outcome: str | None) -> bool:
    """Whether a change marks a contact with the patient: work started or ended, or a note
    that says how a contact went."""
    return (status is not None and status != "open") or note_outcome is not None


def overdue(status: str, due: datetime, now: datetime) -> bool:
    return status in OPEN_STATUSES and due < now
