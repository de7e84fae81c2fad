"""Staff training: lessons read, quiz rounds and scores (issue 22, part 3).

Revision ID: content_0004
Revises: content_0003
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "content_0004"
down_revision = "content_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved slot, filled in by the work it names


def downgrade() -> None:
    pass
