"""Request and response shapes of the scheduler API (msgspec: validated at the edge)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from shared.params import MAX_ID

ChannelCode = Literal["wechat", "sms"]
Language = Literal["zh-CN", "en"]
Arm = Literal["intervention", "control"]
HHMM = Annotated[
    str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="24-hour local time, HH:MM")
]
# A body's id out of range is a 400 naming the field, never an integer overflow in SQL.
ClinicId = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
# An offset is required: a moment without one is a 400 (msgspec), and the schema says so.
Aware = Annotated[
    datetime,
    msgspec.Meta(
        tz=True,
        description="RFC 3339 date-time with its offset",
        examples=["2026-11-24T08:05:00+08:00"],
    ),
]
Weekday = Annotated[int, msgspec.Meta(ge=1, le=7, description="ISO weekday, Monday = 1")]


class Consent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    given_at: Aware


class PatientIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    clinic_id: ClinicId
    clinic_number: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    display_name: Annotated[
        str, msgspec.Meta(min_length=1, max_length=40, description="Initials or a nickname")
    ]
    consent: Consent
    phone: str | None = None
    wechat_openid: str | None = None
    channel_order: list[ChannelCode] = msgspec.field(default_factory=lambda: ["sms"])
    language: Language = "zh-CN"
    time_zone: str | None = None  # the clinic's when unset
    dose_time: HHMM = "07:30"
    quiet_start: HHMM = "22:00"
    quiet_end: HHMM = "07:00"
    lesson_weekdays: list[Weekday] | None = None
    lesson_time: HHMM | None = None
    track: str | None = "core"
    study_arm: Arm | None = None
    explicit_wording: bool = False

    openapi_example: ClassVar[dict[str, Any]] = {
        "clinic_id": 1,
        "clinic_number": "YX-0042",
        "display_name": "W.L.",
        "consent": {"version": "2026-01", "given_at": "2026-11-20T09:00:00+08:00"},
        "phone": "+86 139 0013 9000",
        "wechat_openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
        "channel_order": ["wechat", "sms"],
        "language": "zh-CN",
        "dose_time": "07:30",
        "quiet_start": "22:00",
        "quiet_end": "07:00",
        "lesson_weekdays": [1, 3, 5],
        "lesson_time": "19:00",
        "track": "core",
        "study_arm": "intervention",
    }


class PatientPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    display_name: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] | None = None
    phone: str | None = None
    wechat_openid: str | None = None
    channel_order: list[ChannelCode] | None = None
    language: Language | None = None
    time_zone: str | None = None
    dose_time: HHMM | None = None
    quiet_start: HHMM | None = None
    quiet_end: HHMM | None = None
    lesson_weekdays: list[Weekday] | None = None
    lesson_time: HHMM | None = None
    study_arm: Arm | None = None
    explicit_wording: bool | None = None


class PauseIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    resume_on: date | None = None

    openapi_example: ClassVar[dict[str, Any]] = {
        "reason": "compulsory detoxification",
        "resume_on": "2027-02-01",
    }


class TransferIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    clinic_id: ClinicId
    clinic_number: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]

    openapi_example: ClassVar[dict[str, Any]] = {"clinic_id": 2, "clinic_number": "KM-0107"}


class PatientOut(msgspec.Struct, kw_only=True):
    id: int
    clinic_id: int
    clinic_number: str
    display_name: str
    phone: str | None
    has_wechat: bool
    channel_order: list[str]
    language: str
    time_zone: str
    dose_time: str
    quiet_start: str
    quiet_end: str
    lesson_weekdays: list[int] | None
    lesson_time: str | None
    track: str | None
    study_arm: str | None
    explicit_wording: bool
    state: str
    pause_reason: str | None
    resume_on: date | None
    opted_out: bool
    consent_version: str
    consent_given_at: datetime
    enrolled_at: datetime


class DoseIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    taken_at: Aware
    mg: Annotated[float, msgspec.Meta(gt=0, le=1000)] | None = None

    openapi_example: ClassVar[dict[str, Any]] = {"taken_at": "2026-11-24T08:05:00+08:00", "mg": 60}


class ClinicDoseIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One row of a dispensing system's batch: the patient by clinic number."""

    clinic_number: str
    taken_at: Aware
    mg: Annotated[float, msgspec.Meta(gt=0, le=1000)] | None = None


class DoseBatchIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    doses: Annotated[list[ClinicDoseIn], msgspec.Meta(min_length=1, max_length=5000)]

    openapi_example: ClassVar[dict[str, Any]] = {
        "doses": [
            {"clinic_number": "YX-0042", "taken_at": "2026-11-24T08:05:00+08:00", "mg": 60},
            {"clinic_number": "YX-0043", "taken_at": "2026-11-24T08:11:00+08:00", "mg": 45.5},
        ]
    }


class DoseBatchOut(msgspec.Struct, kw_only=True):
    recorded: int
    already_recorded: int


class ReminderIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A one-off reminder on a given day: a urine test or an appointment."""

    kind: Literal["urine_test", "appointment"]
    on: date
    at: HHMM = "08:00"

    openapi_example: ClassVar[dict[str, Any]] = {
        "kind": "appointment",
        "on": "2026-12-01",
        "at": "09:30",
    }


class UrineTestIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    taken_on: date
    result: Literal["negative", "positive", "invalid"]
    substances: list[Annotated[str, msgspec.Meta(max_length=40)]] = msgspec.field(
        default_factory=list
    )

    openapi_example: ClassVar[dict[str, Any]] = {
        "taken_on": "2026-11-24",
        "result": "positive",
        "substances": ["morphine"],
    }
