"""The MI routes' request and response structs. Every number and text is bounded like its
column, so the OpenAPI document says what the parser refuses (400, naming the field); what
only the record can refuse (a date in the future, a provider of another clinic) is a 422
naming the field (sessions.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from services.scheduler.mi.rules import Status
from services.scheduler.studies.definition import MI_MAX_DAYS, MI_MAX_TARGET, MI_MIN_DAYS
from shared.params import MAX_ID

Topic = Literal[
    "drug_use", "treatment_adherence", "hiv_hcv_risk", "family", "work_housing", "other"
]
TOPICS: tuple[str, ...] = Topic.__args__  # type: ignore[attr-defined]
Ruler = Annotated[int, msgspec.Meta(ge=0, le=10)]  # the importance and confidence rulers
Minutes = Annotated[int, msgspec.Meta(ge=1, le=120)]
StaffId = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
TopicNote = Annotated[str, msgspec.Meta(max_length=200)]
Plan = Annotated[str, msgspec.Meta(max_length=500)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class MiSessionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    held_on: date  # the clinic's date; not in the future, not before enrolment
    minutes: Minutes
    topic: Topic
    importance: Ruler
    confidence: Ruler
    topic_note: TopicNote | None = None
    plan: Plan | None = None
    # Who held it: the signed-in provider when left out; an admin or coordinator may name
    # another staff member of the patient's clinic.
    provider_staff_id: StaffId | None = None

    openapi_example: ClassVar[dict[str, Any]] = {
        "held_on": "2026-12-02",
        "minutes": 20,
        "topic": "drug_use",
        "importance": 7,
        "confidence": 4,
        "plan": "Talk to his brother about the weekend; come in on Monday.",
    }


class MiSessionPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A correction within 24 hours of logging, by its author or an admin; fields left out
    keep their value (topic_note and plan are cleared with an empty text)."""

    held_on: date | None = None
    minutes: Minutes | None = None
    topic: Topic | None = None
    importance: Ruler | None = None
    confidence: Ruler | None = None
    topic_note: TopicNote | None = None
    plan: Plan | None = None
    provider_staff_id: StaffId | None = None


class VoidIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Reason

    openapi_example: ClassVar[dict[str, Any]] = {"reason": "Logged for the wrong patient."}


class MiSessionOut(msgspec.Struct, kw_only=True):
    id: int
    patient_id: int
    clinic_id: int
    held_on: date
    provider_staff_id: int
    provider_name: str
    minutes: int
    topic: str
    topic_note: str | None
    importance: int
    confidence: int
    plan: str | None
    author: str  # token id
    # The staff member who logged it (None for a `mmt token create` token): the console
    # offers a correction to that person, whichever sign-in, as correct_session allows.
    author_staff_id: int | None
    author_name: str | None  # "Name (login)" for staff, kept at writing
    created_at: datetime
    updated_at: datetime | None
    voided: bool
    voided_at: datetime | None
    void_reason: str | None


class MiTargetOut(msgspec.Struct, kw_only=True):
    source: Literal["study", "clinic"]  # a study arm's target, or the clinic's default
    study_id: int | None
    arm: str | None
    target: int
    held: int  # sessions in the window, voided ones left out
    window_starts_on: date
    window_ends_on: date
    status: Status
    next_session: int | None
    next_due_by: date | None


class PatientMiOut(msgspec.Struct, kw_only=True):
    patient_id: int
    target: MiTargetOut | None  # None: no target (an arm without MI, or no clinic default)
    sessions: list[MiSessionOut]  # newest first, voided ones too


class ClinicTargetIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The clinic's default for its patients in no study; `sessions: 0` removes it."""

    sessions: Annotated[int, msgspec.Meta(ge=0, le=MI_MAX_TARGET)]
    within_days: Annotated[int, msgspec.Meta(ge=MI_MIN_DAYS, le=MI_MAX_DAYS)] = 90


class ClinicTargetOut(msgspec.Struct, kw_only=True):
    clinic_id: int
    sessions: int  # 0: no default target
    within_days: int | None
    updated_at: datetime | None


class MiFigures(msgspec.Struct, kw_only=True):
    """A provider's or an arm's figures over the clients with a target (their windows)."""

    group: str  # the provider ("Name (login)"; a keyed pseudonym for researchers), or the
    # arm as "study-key/arm" ("clinic" for the clinic's default target)
    clients_with_target: int
    sessions: int  # held in those clients' windows, voided ones left out
    met: int
    met_share: float | None
    mean_minutes: float | None
    importance_first: float | None  # mean ruler at the client's first session in the window
    importance_second: float | None
    confidence_first: float | None
    confidence_second: float | None


class MiReportOut(msgspec.Struct, kw_only=True):
    clinic_id: int
    on: date
    statuses: dict[str, int]  # clients with a target by status
    providers: list[MiFigures]
    arms: list[MiFigures]
