"""Patients' lesson ratings as the feedback service announced them (a read model for the
study export's engagement columns).

Revision ID: scheduler_0016
Revises: scheduler_0015
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scheduler_0016"
down_revision = "scheduler_0015"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "patient_ratings",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("patient_id", _ID, sa.ForeignKey(f"{SCHEMA}.patients.id"), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("track", sa.String(40), nullable=True),
        sa.Column("lesson_key", sa.String(60), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_scheduler_patient_ratings_patient_id", "patient_ratings", ["patient_id"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("patient_ratings", schema=SCHEMA)
