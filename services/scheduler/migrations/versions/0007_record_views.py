"""Every opening of a patient's record page link.

Revision ID: scheduler_0007
Revises: scheduler_0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scheduler_0007"
down_revision = "scheduler_0006"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "record_views",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("patient_id", _ID, sa.ForeignKey(f"{SCHEMA}.patients.id"), nullable=False),
        sa.Column("reader", sa.String(36), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_scheduler_record_views_patient_id", "record_views", ["patient_id"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("record_views", schema=SCHEMA)
