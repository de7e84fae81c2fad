"""Motivational-interviewing sessions (issue 22, part 2).

Revision ID: scheduler_0018
Revises: scheduler_0017
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scheduler_0018"
down_revision = "scheduler_0017"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mi_sessions",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("patient_id", _ID, sa.ForeignKey(f"{SCHEMA}.patients.id"), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("provider_staff_id", _ID, nullable=False),
        sa.Column("provider_name", sa.String(100), nullable=False),
        sa.Column("minutes", sa.SmallInteger(), nullable=False),
        sa.Column("topic", sa.String(30), nullable=False),
        sa.Column("topic_note", sa.String(200), nullable=True),
        sa.Column("importance", sa.SmallInteger(), nullable=False),
        sa.Column("confidence", sa.SmallInteger(), nullable=False),
        sa.Column("plan", sa.String(500), nullable=True),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("author_staff_id", _ID, nullable=True),
        sa.Column("author_name", sa.String(100), nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_by", sa.String(16), nullable=True),
        sa.Column("updated_at", _AT, nullable=True),
        sa.Column("voided_by", sa.String(16), nullable=True),
        sa.Column("voided_at", _AT, nullable=True),
        sa.Column("void_reason", sa.String(200), nullable=True),
        sa.CheckConstraint("minutes BETWEEN 1 AND 120", name="ck_mi_sessions_minutes"),
        sa.CheckConstraint("importance BETWEEN 0 AND 10", name="ck_mi_sessions_importance"),
        sa.CheckConstraint("confidence BETWEEN 0 AND 10", name="ck_mi_sessions_confidence"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_scheduler_mi_sessions_patient_id", "mi_sessions", ["patient_id"], schema=SCHEMA
    )
    op.create_index(
        "ix_scheduler_mi_sessions_clinic_id", "mi_sessions", ["clinic_id"], schema=SCHEMA
    )
    op.create_table(
        "mi_clinic_targets",
        sa.Column("clinic_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("sessions", sa.SmallInteger(), nullable=False),
        sa.Column("within_days", sa.SmallInteger(), nullable=False),
        sa.Column("updated_by", sa.String(16), nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("mi_clinic_targets", schema=SCHEMA)
    op.drop_table("mi_sessions", schema=SCHEMA)
