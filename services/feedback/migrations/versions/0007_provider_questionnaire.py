"""Nothing: the provider-interaction questionnaire (issue 22) is a built-in survey and
needed no table. The revision was reserved for it while several changes were made at once
and stays, empty, so that databases that ran it and those that did not agree.

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
    pass


def downgrade() -> None:
    pass
