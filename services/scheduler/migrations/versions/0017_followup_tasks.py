"""Follow-up tasks for providers (issue 22, part 1).

- `tasks`: one per warning sign a person should act on (at most one open per patient and
  kind: a partial unique index), with its due time, assignee, status and escalation state.
- `task_signals`: the signals a task gathered, unique by key (redelivery adds nothing).
- `task_notes`: notes with an outcome, signed with the writer's name kept at writing.
- `task_settings`: per clinic, due times by kind, the assignment rule and the lead.

Revision ID: scheduler_0017
Revises: scheduler_0016
Create Date: 2026-12-03
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "scheduler_0017"
down_revision = "scheduler_0016"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OPEN = "status IN ('open', 'in_progress')"


def _at(name: str, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", _ID, sa.ForeignKey(f"{SCHEMA}.patients.id"), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("assignee_staff_id", sa.Integer(), nullable=True),
        sa.Column("assignee_name", sa.String(100), nullable=True),
        sa.Column("assign_pending", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("signal_count", sa.Integer(), nullable=False, server_default="1"),
        _at("signalled_at", nullable=False),
        _at("due_at", nullable=False),
        _at("first_contact_at"),
        _at("closed_at"),
        _at("escalated_at"),
        _at("escalation_claimed_until"),
        _at("escalation_retry_at"),
        sa.Column("escalation_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("escalation_error", sa.String(300), nullable=True),
        _at("created_at", nullable=False),
        _at("updated_at", nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ux_tasks_open_per_kind",
        "tasks",
        ["patient_id", "kind"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text(_OPEN),
        sqlite_where=sa.text(_OPEN),
    )
    op.create_index("ix_tasks_clinic_status", "tasks", ["clinic_id", "status"], schema=SCHEMA)
    op.create_index("ix_scheduler_tasks_patient_id", "tasks", ["patient_id"], schema=SCHEMA)
    op.create_index(
        "ix_scheduler_tasks_assignee_staff_id", "tasks", ["assignee_staff_id"], schema=SCHEMA
    )
    op.create_index(
        "ix_tasks_escalation",
        "tasks",
        ["due_at"],
        schema=SCHEMA,
        postgresql_where=sa.text(f"escalated_at IS NULL AND {_OPEN}"),
        sqlite_where=sa.text(f"escalated_at IS NULL AND {_OPEN}"),
    )
    op.create_table(
        "task_signals",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("task_id", _ID, sa.ForeignKey(f"{SCHEMA}.tasks.id"), nullable=False),
        sa.Column("signal_key", sa.String(120), nullable=False, unique=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("detail", sa.String(200), nullable=True),
        _at("signalled_at", nullable=False),
        _at("received_at", nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_scheduler_task_signals_task_id", "task_signals", ["task_id"], schema=SCHEMA)
    op.create_table(
        "task_notes",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("task_id", _ID, sa.ForeignKey(f"{SCHEMA}.tasks.id"), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("author_name", sa.String(100), nullable=True),
        _at("created_at", nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_scheduler_task_notes_task_id", "task_notes", ["task_id"], schema=SCHEMA)
    op.create_table(
        "task_settings",
        sa.Column("clinic_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("due_minutes", sa.JSON(), nullable=False),
        sa.Column("assignment", sa.String(20), nullable=False),
        sa.Column("fixed_staff_id", sa.Integer(), nullable=True),
        sa.Column("lead_staff_id", sa.Integer(), nullable=True),
        sa.Column("last_assigned_staff_id", sa.Integer(), nullable=True),
        sa.Column("updated_by", sa.String(16), nullable=True),
        _at("updated_at", nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("task_settings", "task_notes", "task_signals", "tasks"):
        op.drop_table(table, schema=SCHEMA)
