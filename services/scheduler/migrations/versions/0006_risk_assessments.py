"""Risk instruments (definitions as data) and the assessments staff record with them.

Revision ID: scheduler_0006
Revises: scheduler_0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scheduler_0006"
down_revision = "scheduler_0005"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "risk_instruments",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("loaded_by", sa.String(16), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("owner", "code", "version"),
        schema=SCHEMA,
    )
    op.create_table(
        "risk_assessments",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("patient_id", _ID, sa.ForeignKey(f"{SCHEMA}.patients.id"), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("instrument_code", sa.String(40), nullable=False),
        sa.Column("instrument_version", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(10), nullable=False),
        sa.Column("assessed_by", sa.String(80), nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("patient_id", "instrument_code", "assessed_at"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_scheduler_risk_assessments_patient_id",
        "risk_assessments",
        ["patient_id"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("risk_assessments", schema=SCHEMA)
    op.drop_table("risk_instruments", schema=SCHEMA)
