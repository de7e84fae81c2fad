"""Tables the feedback service owns, all under its own schema; no other service reads them.

Senders are a read model of the scheduler's patient events: look-up hashes only (never a
phone number or openid), enough to recognise who wrote. Message text is kept only for
needs, which coordinators must read; ratings and commands keep their meaning, not words.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.bus import OutboxMixin, ProcessedMessageMixin
from shared.db import UTCDateTime
from shared.diagnostics import BusProbeMixin

SCHEMA = "feedback"  # logical name; shared.db translates it to the real schema
_ID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class Outbox(OutboxMixin, Base):
    pass


class ProcessedMessage(ProcessedMessageMixin, Base):
    pass


class BusProbe(BusProbeMixin, Base):
    pass


class Sender(Base):
    """Who may write to us, from PatientEnrolled / PatientUpdated."""

    __tablename__ = "senders"

    patient_id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=False)
    clinic_id: Mapped[int] = mapped_column(Integer, index=True)
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    openid_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(8))
    study_arm: Mapped[str | None] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    opted_out: Mapped[bool] = mapped_column(Boolean)
    # When the facts above were true: an older event never overwrites a newer change.
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())
    # When the patient last sent STOP/START here: older events do not undo it.
    opt_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LastLesson(Base):
    """The last lesson sent to each patient (LessonSent): what a rating soon after rates."""

    __tablename__ = "last_lessons"

    patient_id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=False)
    track: Mapped[str] = mapped_column(String(40))
    lesson_key: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InboundMessage(Base):
    """One message a known patient sent; `text` only for needs."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_id"),
        Index("ix_feedback_inbound_clinic_received", "clinic_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(_ID, index=True)
    clinic_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(10))  # sms, wechat
    provider_id: Mapped[str] = mapped_column(String(80))  # MessageSid, MsgId: retries dedupe
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(20))  # grammar.Kind, subscribe, unsubscribe
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    track: Mapped[str | None] = mapped_column(String(40))  # the rated lesson, if any
    lesson_key: Mapped[str | None] = mapped_column(String(80))
    text: Mapped[str | None] = mapped_column(Text)


class Need(Base):
    """A stated need for a coordinator to follow up: new -> in_progress -> resolved."""

    __tablename__ = "needs"
    __table_args__ = (Index("ix_feedback_needs_clinic_status", "clinic_id", "status", "id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    inbound_id: Mapped[int] = mapped_column(_ID, ForeignKey("feedback.inbound_messages.id"))
    patient_id: Mapped[int] = mapped_column(_ID, index=True)
    clinic_id: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(20))
    urgent: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str | None] = mapped_column(String(16))  # token id


class NeedNote(Base):
    """A coordinator's follow-up note on a need (the MMT CARE loop)."""

    __tablename__ = "need_notes"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    need_id: Mapped[int] = mapped_column(_ID, ForeignKey("feedback.needs.id"), index=True)
    author: Mapped[str] = mapped_column(String(16))  # token id
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
