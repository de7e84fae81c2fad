"""Need notes keep their writer's name (issue 19): the console's tokens expire with the
session, so the name is stored when the note is written (shared/access/authors.py).
Notes written before this migration show their token id only.

Revision ID: feedback_0006
Revises: feedback_0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.migration_schema import real_schema

revision = "feedback_0006"
down_revision = "feedback_0005"
branch_labels = None
depends_on = None

SCHEMA = "feedback"  # logical; the connection translates it


def upgrade() -> None:
    op.add_column(
        "need_notes",
        sa.Column("author_name", sa.String(100), nullable=True),
        schema=real_schema(SCHEMA),
    )


def downgrade() -> None:
    op.drop_column("need_notes", "author_name", schema=real_schema(SCHEMA))
