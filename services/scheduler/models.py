"""Tables the scheduler service owns, all under its own schema; no other service reads them."""

from __future__ import annotations

import secrets
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.bus import OutboxMixin, ProcessedMessageMixin
from shared.db import UTCDateTime
from shared.diagnostics import BusProbeMixin

SCHEMA = "scheduler"  # logical name; shared.db translates it to the real schema


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class Outbox(OutboxMixin, Base):
    pass


class ProcessedMessage(ProcessedMessageMixin, Base):
    pass


class BusProbe(BusProbeMixin, Base):
    pass


# --- patients -------------------------------------------------------------------------------

_ID = BigInteger().with_variant(Integer(), "sqlite")


def new_card_code() -> str:
    """A patient card's code (services/scheduler/cards.py): 64 random bits as 16 upper-case
    hex digits, which every barcode scanner types the same whatever the keyboard layout."""
    return secrets.token_hex(8).upper()


class Patient(Base):
    """A patient enrolled at a clinic. Phone and openid are stored encrypted, with an HMAC
    look-up hash beside each (shared.crypto), never in clear."""

    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("clinic_id", "clinic_number"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    clinic_id: Mapped[int] = mapped_column(Integer, index=True)
    clinic_number: Mapped[str] = mapped_column(String(40))
    display_name: Mapped[str] = mapped_column(String(40))
    phone_enc: Mapped[str | None] = mapped_column(Text)
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    openid_enc: Mapped[str | None] = mapped_column(Text)
    openid_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    channel_order: Mapped[list[str]] = mapped_column(JSON)
    language: Mapped[str] = mapped_column(String(8))
    time_zone: Mapped[str] = mapped_column(String(64))
    dose_time: Mapped[time] = mapped_column(Time())
    quiet_start: Mapped[time] = mapped_column(Time())
    quiet_end: Mapped[time] = mapped_column(Time())
    lesson_weekdays: Mapped[str | None] = mapped_column(String(20))  # "1,3,5": ISO weekdays
    lesson_time: Mapped[time | None] = mapped_column(Time())
    track: Mapped[str | None] = mapped_column(String(40))
    study_arm: Mapped[str | None] = mapped_column(String(20))
    explicit_wording: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20), index=True)  # active, paused, discharged
    pause_reason: Mapped[str | None] = mapped_column(String(200))
    resume_on: Mapped[date | None] = mapped_column(Date)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    wrote_on_wechat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_version: Mapped[str] = mapped_column(String(40))
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    consent_recorded_by: Mapped[str] = mapped_column(String(16))  # token id
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # What the patient's card carries, scanned at the counter: opaque, never the id;
    # replaced when a card is lost. Made on insert (a default), so every patient has one.
    card_code: Mapped[str | None] = mapped_column(
        String(24), unique=True, index=True, default=new_card_code
    )


class PatientStateChange(Base):
    """When a patient became active, paused or discharged: what the adherence calendar
    reads to tell a paused day from a missed one (the patient row holds only the present)."""

    __tablename__ = "patient_states"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    state: Mapped[str] = mapped_column(String(20))  # active, paused, discharged
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Occurrence(Base):
    """One planned reminder: unique per (patient, kind, local date, slot), so planning twice
    or in two replicas can never plan it twice."""

    __tablename__ = "occurrences"
    __table_args__ = (
        UniqueConstraint("patient_id", "kind", "local_date", "slot"),
        Index(
            "ix_occurrences_due",
            "due_at",
            postgresql_where=text("state = 'planned'"),
            sqlite_where=text("state = 'planned'"),
        ),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    local_date: Mapped[date] = mapped_column(Date)
    slot: Mapped[str] = mapped_column(String(60))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(20))  # planned, queued, suppressed, expired, ...
    reason: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Message(Base):
    """What a patient is sent for an occurrence; every one ends in a final state."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_clinic_day", "clinic_id", "local_date"),
        Index(
            "ix_messages_retry",
            "retry_at",
            postgresql_where=text("retry_at IS NOT NULL"),
            sqlite_where=text("retry_at IS NOT NULL"),
        ),
        Index(
            "ix_messages_open",
            "expires_at",
            postgresql_where=text("state IN ('queued', 'sending')"),
            sqlite_where=text("state IN ('queued', 'sending')"),
        ),
        # Sent, receipt not yet in: the missing-receipt fallback's sweep (scheduler_0020).
        Index(
            "ix_messages_unconfirmed",
            "updated_at",
            postgresql_where=text("state = 'sent'"),
            sqlite_where=text("state = 'sent'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("scheduler.occurrences.id"), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    clinic_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    local_date: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(500))
    channel: Mapped[str | None] = mapped_column(String(20))
    provider_id: Mapped[str | None] = mapped_column(String(80))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lesson_key: Mapped[str | None] = mapped_column(String(60))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Attempt(Base):
    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("scheduler.messages.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(20))  # sent, retryable, permanent, opted_out
    provider_id: Mapped[str | None] = mapped_column(String(80))
    error: Mapped[str | None] = mapped_column(String(500))


class Dose(Base):
    """An observed dose recorded by the clinic's dispensing system (one per local day)."""

    __tablename__ = "doses"
    __table_args__ = (UniqueConstraint("patient_id", "local_date"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"))
    local_date: Mapped[date] = mapped_column(Date)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    mg: Mapped[float | None] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UrineTest(Base):
    __tablename__ = "urine_tests"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    taken_on: Mapped[date] = mapped_column(Date)
    result: Mapped[str] = mapped_column(String(20))  # negative, positive, invalid
    substances: Mapped[list[str]] = mapped_column(JSON, default=list)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("patient_id", "kind", "raised_on"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    clinic_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(30))  # dropout_risk
    raised_on: Mapped[date] = mapped_column(Date)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20))  # open, acknowledged
    acknowledged_by: Mapped[str | None] = mapped_column(String(16))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlertFollowup(Base):
    """A note on what was done about an alert, with its outcome (the MMT CARE loop)."""

    __tablename__ = "alert_followups"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("scheduler.alerts.id"), index=True)
    outcome: Mapped[str | None] = mapped_column(String(20))  # services/scheduler/alert_followups
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(16))  # token id
    # The writer's name when writing (shared/access/authors.py): outlives the token.
    author_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TrackVersion(Base):
    """Read model of the content service's published curriculum (from CurriculumPublished)."""

    __tablename__ = "curriculum"
    __table_args__ = (UniqueConstraint("track", "version"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    track: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column(Integer)
    event: Mapped[bytes] = mapped_column(LargeBinary)  # the CurriculumPublished JSON
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LessonProgress(Base):
    """Where a patient is in a track, by lesson key, so versions can change under them."""

    __tablename__ = "lesson_progress"
    __table_args__ = (UniqueConstraint("patient_id", "track", "lesson_key"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    track: Mapped[str] = mapped_column(String(40))
    lesson_key: Mapped[str] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(20))  # sent, opened, skipped
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class WeChatBinding(Base):
    """A one-time code behind a patient's parametric QR code."""

    __tablename__ = "wechat_bindings"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
