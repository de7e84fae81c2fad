"""The tables of follow-up tasks: the task, the signals it gathered, its notes and each
clinic's settings (due times, assignment rule, lead)."""

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
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.scheduler.models import Base
from shared.db import UTCDateTime

_ID = BigInteger().with_variant(Integer(), "sqlite")
# A task still waiting for someone; the partial unique index below keeps one per patient
# and kind, so two signals racing cannot open two tasks.
OPEN_SQL = "status IN ('open', 'in_progress')"


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        Index(
            "ux_tasks_open_per_kind",
            "patient_id",
            "kind",
            unique=True,
            postgresql_where=text(OPEN_SQL),
            sqlite_where=text(OPEN_SQL),
        ),
        Index("ix_tasks_clinic_status", "clinic_id", "status"),
        Index(
            "ix_tasks_escalation",
            "due_at",
            postgresql_where=text(f"escalated_at IS NULL AND {OPEN_SQL}"),
            sqlite_where=text(f"escalated_at IS NULL AND {OPEN_SQL}"),
        ),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    clinic_id: Mapped[int] = mapped_column(Integer)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))  # open, in_progress, done, cannot_reach
    outcome: Mapped[str | None] = mapped_column(String(20))
    assignee_staff_id: Mapped[int | None] = mapped_column(Integer, index=True)
    assignee_name: Mapped[str | None] = mapped_column(String(100))  # "Name (login)"
    assign_pending: Mapped[bool] = mapped_column(Boolean, default=False)  # the rule assigns
    signal_count: Mapped[int] = mapped_column(Integer, default=1)
    signalled_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the first signal's
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Escalation to the clinic's lead: claimed by one worker, done once, failures kept.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalation_claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalation_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalation_attempts: Mapped[int] = mapped_column(Integer, default=0)
    escalation_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TaskSignal(Base):
    """One signal: its key makes a redelivered event add nothing."""

    __tablename__ = "task_signals"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("scheduler.tasks.id"), index=True)
    signal_key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str | None] = mapped_column(String(200))  # never a patient's words
    signalled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TaskNote(Base):
    __tablename__ = "task_notes"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("scheduler.tasks.id"), index=True)
    outcome: Mapped[str | None] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(16))  # token id
    author_name: Mapped[str | None] = mapped_column(String(100))  # kept at writing
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TaskSettings(Base):
    """A clinic's task settings; a clinic without a row uses the defaults (rules.py)."""

    __tablename__ = "task_settings"

    clinic_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    due_minutes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # kind -> minutes
    assignment: Mapped[str] = mapped_column(String(20))  # pick_up, round_robin, fixed
    fixed_staff_id: Mapped[int | None] = mapped_column(Integer)
    lead_staff_id: Mapped[int | None] = mapped_column(Integer)
    last_assigned_staff_id: Mapped[int | None] = mapped_column(Integer)  # round robin
    updated_by: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
