"""Follow-up tasks for providers (issue 22, part 1).

Revision ID: scheduler_0017
Revises: scheduler_0016
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "scheduler_0017"
down_revision = "scheduler_0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved slot, filled in by the work it names


def downgrade() -> None:
    pass
