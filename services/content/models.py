"""Tables the content service owns, all under its own schema; no other service reads them.

The curriculum: a track (e.g. "core") has numbered versions; a version is a draft until it
is published, and a published version never changes. A version holds ordered modules
(topics), and lessons ordered across the whole track, each with one row per language.
Lesson keys are stable across versions: patients keep their place by them.
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
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.bus import OutboxMixin, ProcessedMessageMixin
from shared.db import UTCDateTime
from shared.diagnostics import BusProbeMixin

SCHEMA = "content"  # logical name; shared.db translates it to the real schema

_ID = BigInteger().with_variant(Integer(), "sqlite")

DRAFT = "draft"
PUBLISHED = "published"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class Outbox(OutboxMixin, Base):
    pass


class ProcessedMessage(ProcessedMessageMixin, Base):
    pass


class BusProbe(BusProbeMixin, Base):
    pass


class Track(Base):
    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    # "patients" or "staff", fixed at creation: a version cannot move a track between them
    # (patients' progress and staff quiz results would then mean something else).
    audience: Mapped[str] = mapped_column(String(10), server_default="patients")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TrackVersion(Base):
    __tablename__ = "track_versions"
    __table_args__ = (
        UniqueConstraint("track_id", "version", name="uq_track_versions_track_version"),
        # At most one draft per track: two editors racing to start one get a conflict.
        Index(
            "uq_track_versions_one_draft",
            "track_id",
            unique=True,
            postgresql_where=text("state = 'draft'"),
            sqlite_where=text("state = 'draft'"),
        ),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("content.tracks.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10))
    titles: Mapped[dict[str, str]] = mapped_column(JSON)
    lessons_per_week: Mapped[int] = mapped_column(Integer)
    weekdays: Mapped[list[str]] = mapped_column(JSON)  # "mon".."sun"
    local_time: Mapped[str] = mapped_column(String(5))  # "HH:MM"
    next_track: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Module(Base):
    __tablename__ = "modules"
    __table_args__ = (UniqueConstraint("track_version_id", "code", name="uq_modules_version_code"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    track_version_id: Mapped[int] = mapped_column(
        ForeignKey("content.track_versions.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(40))
    titles: Mapped[dict[str, str]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(Integer)

    lessons: Mapped[list[Lesson]] = relationship(
        order_by="Lesson.position", cascade="all, delete-orphan", lazy="raise"
    )


class Lesson(Base):
    __tablename__ = "lessons"
    __table_args__ = (UniqueConstraint("track_version_id", "key", name="uq_lessons_version_key"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    track_version_id: Mapped[int] = mapped_column(
        ForeignKey("content.track_versions.id", ondelete="CASCADE")
    )
    module_id: Mapped[int] = mapped_column(
        ForeignKey("content.modules.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(60))
    position: Mapped[int] = mapped_column(Integer)  # 1..N over the whole track version
    tags: Mapped[list[str]] = mapped_column(JSON)
    quiz_answer: Mapped[int | None] = mapped_column(Integer)

    translations: Mapped[list[LessonTranslation]] = relationship(
        order_by="LessonTranslation.language", cascade="all, delete-orphan", lazy="raise"
    )


class LessonTranslation(Base):
    __tablename__ = "lesson_translations"
    __table_args__ = (
        UniqueConstraint("lesson_id", "language", name="uq_lesson_translations_language"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("content.lessons.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200))
    notification: Mapped[str] = mapped_column(String(400))
    body: Mapped[str] = mapped_column(Text)
    quiz_question: Mapped[str | None] = mapped_column(String(500))
    quiz_options: Mapped[list[Any] | None] = mapped_column(JSON)


# Staff training (issue 22 part 3): what each staff member (access.staff.id; no foreign key
# across schemas) read, the knowledge-quiz rounds they took, and the phone nudges sent.


class StaffLessonRead(Base):
    """A staff member read one version of a staff lesson: once per version."""

    __tablename__ = "staff_lesson_reads"
    __table_args__ = (
        UniqueConstraint(
            "staff_id", "track", "lesson_key", "version", name="uq_staff_lesson_reads_once"
        ),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(_ID, index=True)
    track: Mapped[str] = mapped_column(String(40))
    lesson_key: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(Integer)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime())


class QuizAttempt(Base):
    """One round of the provider knowledge quiz (0, 3, 6 or 9 months), answered once."""

    __tablename__ = "staff_quiz_attempts"
    __table_args__ = (UniqueConstraint("staff_id", "round_month", name="uq_staff_quiz_round"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(_ID, index=True)
    round_month: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    questions: Mapped[int] = mapped_column(Integer)
    correct: Mapped[int] = mapped_column(Integer)

    answers: Mapped[list[QuizAnswer]] = relationship(
        order_by="QuizAnswer.id", cascade="all, delete-orphan", lazy="raise"
    )


class QuizAnswer(Base):
    __tablename__ = "staff_quiz_answers"
    __table_args__ = (
        UniqueConstraint("attempt_id", "track", "lesson_key", name="uq_staff_quiz_answer"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("content.staff_quiz_attempts.id", ondelete="CASCADE")
    )
    track: Mapped[str] = mapped_column(String(40))
    lesson_key: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(Integer)
    choice: Mapped[int] = mapped_column(Integer)
    correct: Mapped[bool] = mapped_column(Boolean)


class TrainingNudge(Base):
    """One item (a due quiz round, an unread lesson version) a staff member's phone was, or
    is to be, told about: unique per person and item, so restarts and a second worker never
    text twice. `not_before` is both the sending claim and the retry time after a failure."""

    __tablename__ = "staff_training_nudges"
    __table_args__ = (UniqueConstraint("staff_id", "item", name="uq_staff_training_nudge"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(_ID)
    item: Mapped[str] = mapped_column(String(120))  # "quiz:3", "lesson:track/key/v2"
    state: Mapped[str] = mapped_column(String(10))  # pending, sent, failed, moot
    tries: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(String(300))  # the last failure's, no number
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TrainingProgramme(Base):
    """A clinic's staff-training programme start: its staff's quiz rounds count from it (or
    from their account's creation, if later) instead of from the account's creation."""

    __tablename__ = "staff_training_programmes"

    clinic_id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())
    set_by: Mapped[str] = mapped_column(String(16))  # the token id
