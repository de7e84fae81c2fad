"""A clinic's weekly opening hours and take-home practice (clinic_calendars); a closed
special day may keep surveys away too (clinic_days.skip_surveys).

Revision ID: scheduler_0010
Revises: scheduler_0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.migration_schema import real_schema

revision = "scheduler_0010"
down_revision = "scheduler_0009"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it


def upgrade() -> None:
    op.create_table(
        "clinic_calendars",
        sa.Column("clinic_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("week", sa.JSON(), nullable=True),
        sa.Column("take_home", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_by", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.add_column(
        "clinic_days",
        sa.Column("skip_surveys", sa.Boolean(), nullable=False, server_default=sa.false()),
        schema=real_schema(SCHEMA),
    )


def downgrade() -> None:
    op.drop_column("clinic_days", "skip_surveys", schema=real_schema(SCHEMA))
    op.drop_table("clinic_calendars", schema=SCHEMA)
