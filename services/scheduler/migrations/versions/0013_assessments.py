"""Assessments (issue 21 part 2): questionnaires as data, the assessments recorded with
their answers and scores, and the follow-up plan of what is due for whom, when.

Revision ID: scheduler_0013
Revises: scheduler_0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scheduler_0013"
down_revision = "scheduler_0012"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def _patient() -> sa.Column[int]:
    return sa.Column("patient_id", _ID, sa.ForeignKey(f"{SCHEMA}.patients.id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "assessment_instruments",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("loaded_by", sa.String(16), nullable=False),
        sa.Column("loaded_at", _AT, nullable=False),
        sa.UniqueConstraint("owner", "code", "version"),
        schema=SCHEMA,
    )
    op.create_table(
        "assessments_due",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        _patient(),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("instrument_code", sa.String(40), nullable=False),
        sa.Column("time_point", sa.String(40), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=True),
        sa.Column("reader", sa.String(36), nullable=False, unique=True),
        sa.Column("assessment_id", _ID, nullable=True),
        sa.Column("created_by", sa.String(16), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.UniqueConstraint("patient_id", "instrument_code", "time_point"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_scheduler_assessments_due_patient_id", "assessments_due", ["patient_id"], schema=SCHEMA
    )
    op.create_table(
        "assessments",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        _patient(),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("instrument_code", sa.String(40), nullable=False),
        sa.Column("instrument_version", sa.Integer(), nullable=False),
        sa.Column("time_point", sa.String(40), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("assessed_by", sa.String(80), nullable=False),
        sa.Column("assessed_at", _AT, nullable=False),
        sa.Column("recorded_by", sa.String(16), nullable=False),
        sa.Column("recorded_at", _AT, nullable=False),
        sa.UniqueConstraint("patient_id", "instrument_code", "assessed_at"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_scheduler_assessments_patient_id", "assessments", ["patient_id"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("assessments", schema=SCHEMA)
    op.drop_table("assessments_due", schema=SCHEMA)
    op.drop_table("assessment_instruments", schema=SCHEMA)
