"""The scheduler's tables for MI sessions (beside models.py, whose Base they share).

A session row is never deleted: a mistake is corrected within a day by its author (or an
admin), or voided with a reason, which keeps the row and who voided it; a voided session
no longer counts towards the target.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from services.scheduler.models import Base
from shared.db import UTCDateTime

_ID = BigInteger().with_variant(Integer(), "sqlite")


class MiSession(Base):
    __tablename__ = "mi_sessions"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    clinic_id: Mapped[int] = mapped_column(Integer, index=True)  # the patient's, when held
    held_on: Mapped[date] = mapped_column(Date)  # the clinic's date
    provider_staff_id: Mapped[int] = mapped_column(_ID)  # access.staff.id
    provider_name: Mapped[str] = mapped_column(String(100))  # "Name (login)" when logged
    minutes: Mapped[int] = mapped_column(SmallInteger)
    topic: Mapped[str] = mapped_column(String(30))
    topic_note: Mapped[str | None] = mapped_column(String(200))
    importance: Mapped[int] = mapped_column(SmallInteger)  # ruler 0-10
    confidence: Mapped[int] = mapped_column(SmallInteger)  # ruler 0-10
    plan: Mapped[str | None] = mapped_column(String(500))  # health data: never logged
    author: Mapped[str] = mapped_column(String(16))  # token id
    # The person behind that token (a console sign-in's token is theirs for one session
    # only): who may correct the row the next morning.
    author_staff_id: Mapped[int | None] = mapped_column(_ID)
    author_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voided_by: Mapped[str | None] = mapped_column(String(16))
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    void_reason: Mapped[str | None] = mapped_column(String(200))


class MiClinicTarget(Base):
    """A clinic's target for its patients in no study (a study's arm decides for its
    participants): `sessions` within `within_days` of enrolment."""

    __tablename__ = "mi_clinic_targets"

    clinic_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sessions: Mapped[int] = mapped_column(SmallInteger)
    within_days: Mapped[int] = mapped_column(SmallInteger)
    updated_by: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
