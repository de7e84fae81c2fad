"""A track is for patients (pushed by the scheduler) or for staff (read in the console).

Revision ID: content_0003
Revises: content_0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.migration_schema import real_schema

revision = "content_0003"
down_revision = "content_0002"
branch_labels = None
depends_on = None

SCHEMA = "content"  # logical; the connection translates it


def upgrade() -> None:
    op.add_column(
        "tracks",
        sa.Column("audience", sa.String(10), nullable=False, server_default="patients"),
        schema=real_schema(SCHEMA),
    )


def downgrade() -> None:
    op.drop_column("tracks", "audience", schema=real_schema(SCHEMA))
