"""The scheduler's tables for assessments (issue 21 part 2, beside models.py, whose Base
they share): the questionnaires clinics loaded, each assessment recorded with its answers
and scores, and the follow-up plan: which questionnaire is due for a patient at which time
point, on which day."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.scheduler.models import Base
from services.scheduler.risk_models import DefinitionColumns
from shared.db import UTCDateTime

_ID = BigInteger().with_variant(Integer(), "sqlite")


class AssessmentInstrument(DefinitionColumns, Base):
    """One version of a questionnaire, validated (assessment_definition.Questionnaire); owned
    by a clinic or by every clinic (risk_models.EVERY_CLINIC), as risk instruments are."""

    __tablename__ = "assessment_instruments"


class AssessmentDue(Base):
    """A questionnaire due for a patient at a time point of their follow-up (baseline,
    month-2, ...), on a day; done once an assessment names it. `reader` is what the
    patient's self-assessment link carries (a random UUID: the link names no patient)."""

    __tablename__ = "assessments_due"
    __table_args__ = (UniqueConstraint("patient_id", "instrument_code", "time_point"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    clinic_id: Mapped[int] = mapped_column(Integer)  # at planning (the due list joins patients)
    instrument_code: Mapped[str] = mapped_column(String(40))
    time_point: Mapped[str] = mapped_column(String(40))
    due_on: Mapped[date] = mapped_column(Date)  # the patient's local date
    study_id: Mapped[int | None] = mapped_column(Integer)  # the study whose plan set it
    reader: Mapped[str] = mapped_column(String(36), unique=True)
    assessment_id: Mapped[int | None] = mapped_column(_ID)  # the assessment that did it
    created_by: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Assessment(Base):
    """One administration of a questionnaire: the answers given, the scores they made with
    the version used, by staff (their name) or by the patient themselves (`self`). Unique per
    patient, questionnaire and moment, so that a request sent twice records it once."""

    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("patient_id", "instrument_code", "assessed_at"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    clinic_id: Mapped[int] = mapped_column(Integer)
    instrument_code: Mapped[str] = mapped_column(String(40))
    instrument_version: Mapped[int] = mapped_column(Integer)
    time_point: Mapped[str | None] = mapped_column(String(40))
    answers: Mapped[dict[str, str]] = mapped_column(JSON)
    scores: Mapped[dict[str, float | None]] = mapped_column(JSON)
    mode: Mapped[str] = mapped_column(String(10))  # staff, self
    assessed_by: Mapped[str] = mapped_column(String(80))  # the staff member; "patient"
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(16))  # token id; "link" for self
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
