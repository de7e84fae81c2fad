"""What the task routes read and answer (msgspec structs: the OpenAPI schema's source)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

import msgspec

from services.scheduler.alert_followups import Outcome
from services.scheduler.tasks.rules import MAX_DUE_MINUTES, MIN_DUE_MINUTES, Assignment, Status

Login = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Minutes = Annotated[int, msgspec.Meta(ge=MIN_DUE_MINUTES, le=MAX_DUE_MINUTES)]


class TaskOut(msgspec.Struct, kw_only=True):
    id: int
    clinic_id: int
    patient_id: int
    kind: str
    status: str
    outcome: str | None
    assignee_staff_id: int | None
    assignee: str | None  # "Name (login)", kept when assigned
    signal_count: int
    signalled_at: datetime  # the first signal's time
    due_at: datetime
    overdue: bool
    first_contact_at: datetime | None
    closed_at: datetime | None
    escalated_at: datetime | None
    escalation_attempts: int
    escalation_error: str | None  # why the last escalation text failed; retried
    created_at: datetime
    updated_at: datetime


class SignalOut(msgspec.Struct, kw_only=True):
    signal_key: str
    kind: str
    detail: str | None
    signalled_at: datetime
    received_at: datetime


class NoteOut(msgspec.Struct, kw_only=True):
    id: int
    task_id: int
    outcome: str | None
    text: str
    author: str  # token id
    author_name: str | None  # "Name (login)" for staff, kept at writing
    created_at: datetime


class TaskDetail(TaskOut, kw_only=True):
    signals: list[SignalOut]
    notes: list[NoteOut]


class TaskPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # true: the caller (a staff sign-in) takes the task.
    claim: bool = False
    # A staff login to give it to; null takes the assignment away; absent: unchanged.
    assignee: Login | msgspec.UnsetType | None = msgspec.UNSET
    status: Status | None = None
    outcome: Outcome | None = None

    openapi_example: ClassVar[dict[str, Any]] = {"status": "in_progress", "claim": True}


class DueMinutes(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Minutes from the signal to the due time, per kind. In a PUT, null or absent means the
    default; in an answer, the time in force (dropout_risk null: the end of the patient's
    local day)."""

    dropout_risk: Minutes | None = None
    urgent_need: Minutes | None = None
    open_need: Minutes | None = None
    risk_rise: Minutes | None = None
    low_ratings: Minutes | None = None
    unreachable: Minutes | None = None
    missed_doses: Minutes | None = None
    mi_session_due: Minutes | None = None


class TaskSettingsIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    assignment: Assignment = "pick_up"
    fixed_assignee: Login | None = None  # the login tasks go to under `fixed`
    lead: Login | None = None  # escalations text this person's phone (else the clinic's)
    due_minutes: DueMinutes = msgspec.field(default_factory=DueMinutes)

    openapi_example: ClassVar[dict[str, Any]] = {
        "assignment": "round_robin",
        "lead": "li.na",
        "due_minutes": {"urgent_need": 30, "open_need": 1440},
    }


class TaskSettingsOut(msgspec.Struct, kw_only=True):
    clinic_id: int
    assignment: str
    fixed_staff_id: int | None
    fixed_assignee: str | None  # "Name (login)"
    lead_staff_id: int | None
    lead: str | None  # "Name (login)"
    due_minutes: DueMinutes
    updated_at: datetime | None  # None: never set, the defaults apply


class KindContact(msgspec.Struct, kw_only=True):
    kind: str
    tasks: int  # first signalled within the period
    contacted: int
    median_hours: float | None  # from the first signal to the first contact
    p90_hours: float | None
    still_open: int
    overdue: int


class TimeToContact(msgspec.Struct, kw_only=True):
    clinic_id: int
    from_: datetime = msgspec.field(name="from")
    to: datetime
    kinds: list[KindContact]
