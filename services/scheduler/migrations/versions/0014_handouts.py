"""Which printed lesson handout a patient was given, and when (the routine-care arm).

Revision ID: scheduler_0014
Revises: scheduler_0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scheduler_0014"
down_revision = "scheduler_0013"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "handouts_given",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("patient_id", _ID, sa.ForeignKey(f"{SCHEMA}.patients.id"), nullable=False),
        sa.Column("track", sa.String(40), nullable=False),
        sa.Column("lesson_key", sa.String(60), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("given_by", sa.String(16), nullable=False),
        sa.Column("given_by_name", sa.String(100), nullable=True),
        sa.UniqueConstraint("patient_id", "track", "lesson_key", "given_on"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_scheduler_handouts_given_patient_id", "handouts_given", ["patient_id"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("handouts_given", schema=SCHEMA)
