"""Provider-interaction questionnaire (issue 22, part 3).

Revision ID: feedback_0007
Revises: feedback_0006
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "feedback_0007"
down_revision = "feedback_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved slot, filled in by the work it names


def downgrade() -> None:
    pass
