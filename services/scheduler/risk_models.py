"""The scheduler's tables for issue 20 (beside models.py, whose Base they share): the risk
instruments clinics loaded, each assessment staff recorded for a patient, and each opening
of a patient's record page, and clinics' calendars: their special days and weekly hours."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.scheduler.models import Base
from shared.db import UTCDateTime

_ID = BigInteger().with_variant(Integer(), "sqlite")
EVERY_CLINIC = 0  # RiskInstrument.owner of an instrument every clinic may use


class DefinitionColumns:
    """A versioned definition clinics load (services.scheduler.instruments): a risk
    instrument, or an assessment questionnaire (assessment_models.py)."""

    __table_args__ = (UniqueConstraint("owner", "code", "version"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    owner: Mapped[int] = mapped_column(Integer)  # a clinic id, or EVERY_CLINIC
    code: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    loaded_by: Mapped[str] = mapped_column(String(16))  # token id, or "cli"
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RiskInstrument(DefinitionColumns, Base):
    """One version of an instrument definition, validated (risk_definition.Instrument)."""

    __tablename__ = "risk_instruments"


class RiskAssessment(Base):
    """One assessment: unique per patient, instrument and moment, so that a request sent
    twice records it once (and raises at most one alert)."""

    __tablename__ = "risk_assessments"
    __table_args__ = (UniqueConstraint("patient_id", "instrument_code", "assessed_at"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    clinic_id: Mapped[int] = mapped_column(Integer)
    instrument_code: Mapped[str] = mapped_column(String(40))
    instrument_version: Mapped[int] = mapped_column(Integer)
    answers: Mapped[dict[str, str]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(10))  # low, medium, high
    assessed_by: Mapped[str] = mapped_column(String(80))  # the staff member's name
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(16))  # token id
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecordView(Base):
    """One opening of a record page link: whose, when, and what it showed (`shown`, or
    `expired` / `withdrawn` when it showed nothing). A tampered link names no one and is
    not recorded here."""

    __tablename__ = "record_views"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    reader: Mapped[str] = mapped_column(String(36))  # the reply message that carried the link
    outcome: Mapped[str] = mapped_column(String(20))  # shown, expired, withdrawn
    viewed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ClinicDay(Base):
    """A special day in a clinic's calendar (Spring Festival, a public holiday, a closure):
    closed, or open at other hours. Dose reminders follow it (planner/ahead.py)."""

    __tablename__ = "clinic_days"
    __table_args__ = (UniqueConstraint("clinic_id", "day"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    clinic_id: Mapped[int] = mapped_column(Integer, index=True)
    day: Mapped[date] = mapped_column(Date)  # the clinic's local date
    closed: Mapped[bool] = mapped_column(Boolean)
    skip_lessons: Mapped[bool] = mapped_column(Boolean, default=False)  # closed: no lesson
    skip_surveys: Mapped[bool] = mapped_column(Boolean, default=False)  # closed: surveys wait
    opens_at: Mapped[time | None] = mapped_column(Time())
    closes_at: Mapped[time | None] = mapped_column(Time())
    note: Mapped[str | None] = mapped_column(String(80))  # staff's, e.g. 春节
    updated_by: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ClinicCalendar(Base):
    """A clinic's weekly opening hours and how it covers its closed days.

    `week` maps mon..sun to the day's opening intervals ("07:00-11:30"), [] for a weekday
    the clinic is closed; None (or no row) is a clinic without weekly hours, whose dose
    reminders keep their times. A special day (ClinicDay) overrides its weekday.
    `take_home` is a clinic-wide practice, not a per-day choice: the clinic hands out
    take-home doses for the days it is closed, weekly or special, so patients are told the
    day before (planner/notices.py)."""

    __tablename__ = "clinic_calendars"

    clinic_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    week: Mapped[dict[str, list[str]] | None] = mapped_column(JSON)
    take_home: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
