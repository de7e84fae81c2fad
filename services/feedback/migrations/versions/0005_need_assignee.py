"""Who follows a need up: the login of a staff member of its clinic (or an admin), set and
cleared through PATCH /api/v1/needs/{id}; null while nobody has taken it.

Revision ID: feedback_0005
Revises: feedback_0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.migration_schema import real_schema

revision = "feedback_0005"
down_revision = "feedback_0004"
branch_labels = None
depends_on = None

SCHEMA = "feedback"  # logical


def upgrade() -> None:
    op.add_column(
        "needs", sa.Column("assignee", sa.String(64), nullable=True), schema=real_schema(SCHEMA)
    )


def downgrade() -> None:
    op.drop_column("needs", "assignee", schema=real_schema(SCHEMA))
