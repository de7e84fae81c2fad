"""Request and response shapes of the study routes (msgspec: validated at the edge).

No shape carries a stratum's block state: what is left of a block is never sent out
(allocation.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from services.scheduler.schemas import ClinicId, Consent
from services.scheduler.studies.definition import FollowUp

LostReason = Literal["compulsory_detoxification", "moved", "died", "withdrew", "other"]
Reason = Annotated[str, msgspec.Meta(min_length=5, max_length=300)]
StratumValue = Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
StudyRef = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]


class StudyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    definition: dict[str, Any]  # a study file's content as JSON (studies/README.md)


class ArmOut(msgspec.Struct, kw_only=True):
    code: str
    titles: dict[str, str]
    ratio: int
    dose_reminders: bool
    lessons: bool
    surveys: bool
    tracks: list[str] | None
    assessment_reminders: bool = True  # reminders of the follow-up assessments


class FactorOut(msgspec.Struct, kw_only=True):
    key: str
    values: list[str] | None  # None: the patient's clinic
    age_bands: bool = False  # the values are age bands: `age` at enrolment finds the band


class StudyOut(msgspec.Struct, kw_only=True):
    id: int
    key: str
    titles: dict[str, str]
    unit: str
    consent_version: str
    status: str
    strata: list[FactorOut]
    arms: list[ArmOut]
    follow_up: list[FollowUp]
    defined_at: datetime
    closed_at: datetime | None
    outcome: str | None = None  # from an import: defined, unchanged


class ParticipantIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A patient enrolled into a study: when assessed, with consent once given, and the
    stratum values the study asks for beside the clinic (e.g. sex, age band)."""

    study_id: StudyRef
    consent: Consent | None = None
    strata: dict[str, StratumValue] = msgspec.field(default_factory=dict)
    # The patient's age in years, when the study has an age band factor: the band is found
    # from it (the age itself is not kept; the record has no date of birth).
    age: Annotated[int, msgspec.Meta(ge=0, le=120)] | None = None
    baseline_on: date | None = None

    openapi_example: ClassVar[dict[str, Any]] = {
        "study_id": 1,
        "consent": {"version": "yuxi-2019-v1", "given_at": "2026-12-01T09:00:00+08:00"},
        "strata": {"sex": "male", "age_band": "40-49"},
    }


class BaselineIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    on: date


class ArmChangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    arm: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
    reason: Reason

    openapi_example: ClassVar[dict[str, Any]] = {
        "arm": "control",
        "reason": "randomised in error: consent was for the 2018 form",
    }


class LostIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: LostReason
    on: date
    note: Annotated[str, msgspec.Meta(max_length=200)] | None = None

    openapi_example: ClassVar[dict[str, Any]] = {
        "reason": "compulsory_detoxification",
        "on": "2027-01-15",
    }


class ParticipantOut(msgspec.Struct, kw_only=True):
    study_id: int
    study: str
    patient_id: int
    clinic_id: int
    consent_version: str | None
    consent_given_at: datetime | None
    strata: dict[str, str]
    baseline_on: date | None
    arm: str | None
    randomised_at: datetime | None
    lost_on: date | None
    lost_reason: str | None
    lost_note: str | None
    enrolled_at: datetime


class ClusterClinicIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    clinic_id: ClinicId
    stratum: Annotated[str, msgspec.Meta(max_length=80)] = ""


class ClusterIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every clinic of a study randomised by clinic, at once (optionally in strata)."""

    clinics: Annotated[list[ClusterClinicIn], msgspec.Meta(min_length=2, max_length=500)]

    openapi_example: ClassVar[dict[str, Any]] = {
        "clinics": [
            {"clinic_id": c, "stratum": "urban" if c <= 3 else "rural"} for c in range(1, 7)
        ]
    }


class ClinicArmOut(msgspec.Struct, kw_only=True):
    clinic_id: int
    arm: str
    stratum: str
    allocated_at: datetime


class AllocationOut(msgspec.Struct, kw_only=True):
    id: int
    patient_id: int | None
    clinic_id: int | None
    kind: str
    arm: str
    previous_arm: str | None
    reason: str | None
    by: str
    at: datetime
