"""A closed day may keep lessons away too, when the clinic says so.

Revision ID: scheduler_0009
Revises: scheduler_0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.migration_schema import real_schema

revision = "scheduler_0009"
down_revision = "scheduler_0008"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it


def upgrade() -> None:
    op.add_column(
        "clinic_days",
        sa.Column("skip_lessons", sa.Boolean(), nullable=False, server_default=sa.false()),
        schema=real_schema(SCHEMA),
    )


def downgrade() -> None:
    op.drop_column("clinic_days", "skip_lessons", schema=real_schema(SCHEMA))
