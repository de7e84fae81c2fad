"""The scheduler's tables for studies (beside models.py, whose Base they share).

A study and its arms are fixed once defined (only its status changes); a participant row
holds the present (consent, baseline, arm, loss to follow-up); `study_allocation_log` holds
every allocation and change and is append-only (the database refuses UPDATE and DELETE on
it: migration scheduler_0012); `study_blocks` is each stratum's block state, which no
route returns (allocation.py says why that conceals the sequence).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.scheduler.models import Base
from shared.db import UTCDateTime

_ID = BigInteger().with_variant(Integer(), "sqlite")


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    unit: Mapped[str] = mapped_column(String(10))  # patient, clinic
    consent_version: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10))  # open, closed
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)  # definition.StudyDefinition
    defined_by: Mapped[str] = mapped_column(String(16))  # token id, or "cli"
    defined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StudyArm(Base):
    """An arm and its policy: what the planner may send its participants."""

    __tablename__ = "study_arms"
    __table_args__ = (UniqueConstraint("study_id", "code"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("scheduler.studies.id"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    ratio: Mapped[int] = mapped_column(Integer)
    dose_reminders: Mapped[bool] = mapped_column(Boolean)
    lessons: Mapped[bool] = mapped_column(Boolean)
    surveys: Mapped[bool] = mapped_column(Boolean)
    tracks_limited: Mapped[bool] = mapped_column(Boolean)  # lessons only of the tracks listed
    # Reminders of its participants' follow-up assessments (the time points stay due).
    assessment_reminders: Mapped[bool] = mapped_column(Boolean, default=True)


class StudyArmTrack(Base):
    """A track an arm's lessons may come from (when the arm lists its tracks)."""

    __tablename__ = "study_arm_tracks"

    arm_id: Mapped[int] = mapped_column(ForeignKey("scheduler.study_arms.id"), primary_key=True)
    track: Mapped[str] = mapped_column(String(40), primary_key=True)


class StudyClinic(Base):
    """A clinic's arm in a study randomised by clinic (allocated once, as a set)."""

    __tablename__ = "study_clinics"
    __table_args__ = (UniqueConstraint("study_id", "clinic_id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("scheduler.studies.id"), index=True)
    clinic_id: Mapped[int] = mapped_column(Integer)
    arm_id: Mapped[int] = mapped_column(ForeignKey("scheduler.study_arms.id"))
    stratum: Mapped[str] = mapped_column(String(80))
    allocated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StudyParticipant(Base):
    """A patient in a study: consent, baseline, strata, arm (None until randomised) and,
    when it happens, loss to follow-up."""

    __tablename__ = "study_participants"
    __table_args__ = (UniqueConstraint("study_id", "patient_id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("scheduler.studies.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    clinic_id: Mapped[int] = mapped_column(Integer)  # at enrolment: the stratum and the scope
    # Enrolled when assessed for eligibility; randomised only once consent is recorded.
    consent_version: Mapped[str | None] = mapped_column(String(40))
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    strata: Mapped[dict[str, str]] = mapped_column(JSON)
    baseline_on: Mapped[date | None] = mapped_column(Date)
    arm_id: Mapped[int | None] = mapped_column(ForeignKey("scheduler.study_arms.id"))
    randomised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lost_on: Mapped[date | None] = mapped_column(Date)
    lost_reason: Mapped[str | None] = mapped_column(String(30))
    lost_note: Mapped[str | None] = mapped_column(String(200))
    enrolled_by: Mapped[str] = mapped_column(String(16))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StudyBlock(Base):
    """A stratum's block state: places of each arm left in its current block. Server-side
    only (no route, no export reads it); locked while a patient is randomised."""

    __tablename__ = "study_blocks"
    __table_args__ = (UniqueConstraint("study_id", "stratum"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("scheduler.studies.id"))
    stratum: Mapped[str] = mapped_column(String(200))
    remaining: Mapped[dict[str, int]] = mapped_column(JSON)


class AllocationLogEntry(Base):
    """One allocation or change of arm, of a patient or of a clinic. Append-only: written
    by no UPDATE in the code, and refused UPDATE and DELETE by the database."""

    __tablename__ = "study_allocation_log"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("scheduler.studies.id"), index=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("scheduler.patients.id"))
    clinic_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # randomised, clinic_arm, cluster, changed
    arm: Mapped[str] = mapped_column(String(20))
    previous_arm: Mapped[str | None] = mapped_column(String(20))
    stratum: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(300))
    by: Mapped[str] = mapped_column(String(16))  # token id
    at: Mapped[datetime] = mapped_column(UTCDateTime())
