"""Tables the feedback service owns, all under its own schema; no other service reads them.

Senders are a read model of the scheduler's patient events: look-up hashes only (never a
phone number or openid), enough to recognise who wrote. Message text is kept only for
needs, which coordinators must read; ratings and commands keep their meaning, not words.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
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
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

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
    module: Mapped[str | None] = mapped_column(String(80))


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
    module: Mapped[str | None] = mapped_column(String(80))
    # The arm when it was received: a study's reports must not move if an arm is corrected.
    study_arm: Mapped[str | None] = mapped_column(String(20))
    text: Mapped[str | None] = mapped_column(Text)
    # How the worker's answer went (services/feedback/inbound_worker.py): "pending" from
    # the commit until it is sent, then "sent" or "not sent: <reason>" (the adapter's
    # reason: no number, no words). None: nothing to answer.
    answer: Mapped[str | None] = mapped_column(String(200))


class Need(Base):
    """A stated need for a coordinator to follow up: new -> in_progress -> resolved."""

    __tablename__ = "needs"
    __table_args__ = (Index("ix_feedback_needs_clinic_status", "clinic_id", "status", "id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    inbound_id: Mapped[int] = mapped_column(_ID, ForeignKey("feedback.inbound_messages.id"))
    # Set, never read: a need is made with its message before either has an id, and the
    # two are written together (the worker writes a whole batch's at once).
    inbound: Mapped[InboundMessage] = relationship(lazy="raise")
    patient_id: Mapped[int] = mapped_column(_ID, index=True)
    clinic_id: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(20))
    urgent: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str | None] = mapped_column(String(16))  # token id
    # The staff member following it up (a login: shared/access/staff.py), or nobody yet.
    assignee: Mapped[str | None] = mapped_column(String(64))


class NeedNote(Base):
    """A coordinator's follow-up note on a need (the MMT CARE loop)."""

    __tablename__ = "need_notes"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    need_id: Mapped[int] = mapped_column(_ID, ForeignKey("feedback.needs.id"), index=True)
    author: Mapped[str] = mapped_column(String(16))  # token id
    # The writer's name as it was when writing (shared/access/authors.py): it outlives the
    # console token, which expires with the session.
    author_name: Mapped[str | None] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SurveyDefinition(Base):
    """A survey a clinic or study defined through the API (the built-in ones live in code,
    services.feedback.surveys.definitions): questions with answer types, by language."""

    __tablename__ = "survey_definitions"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(16))  # token id


class SurveyRun(Base):
    """One patient taking one survey, a question at a time: open -> completed | timed_out |
    cancelled. At most one open run per patient, so a digit answers exactly one question."""

    __tablename__ = "survey_runs"
    __table_args__ = (
        Index(
            "ix_feedback_survey_runs_open",
            "patient_id",
            unique=True,
            postgresql_where=sql_text("state = 'open'"),
            sqlite_where=sql_text("state = 'open'"),
        ),
        Index("ix_feedback_survey_runs_clinic", "clinic_id", "survey_key"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    survey_key: Mapped[str] = mapped_column(String(40))
    patient_id: Mapped[int] = mapped_column(_ID)
    clinic_id: Mapped[int] = mapped_column(Integer)
    study_arm: Mapped[str | None] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    question_index: Mapped[int] = mapped_column(Integer)  # the question now asked
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # or due to be
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_by: Mapped[str] = mapped_column(String(16))  # a token id, or "lesson"
    # The lesson a post-lesson helpfulness question asks about.
    track: Mapped[str | None] = mapped_column(String(40))
    lesson_key: Mapped[str | None] = mapped_column(String(80))
    module: Mapped[str | None] = mapped_column(String(80))


class SurveyAnswer(Base):
    """An answer to one question of a run, or the record that it timed out."""

    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("run_id", "question_key"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(_ID, ForeignKey("feedback.survey_runs.id"), index=True)
    question_key: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20))  # answered, timed_out
    value: Mapped[int | None] = mapped_column(SmallInteger)  # scale and choice answers
    text: Mapped[str | None] = mapped_column(Text)  # free-text answers only
    at: Mapped[datetime] = mapped_column(UTCDateTime())
