"""Special days of a clinic's calendar: closed, or open at other hours.

Revision ID: scheduler_0008
Revises: scheduler_0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scheduler_0008"
down_revision = "scheduler_0007"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it


def upgrade() -> None:
    op.create_table(
        "clinic_days",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("opens_at", sa.Time(), nullable=True),
        sa.Column("closes_at", sa.Time(), nullable=True),
        sa.Column("note", sa.String(80), nullable=True),
        sa.Column("updated_by", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("clinic_id", "day"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_scheduler_clinic_days_clinic_id", "clinic_days", ["clinic_id"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("clinic_days", schema=SCHEMA)
