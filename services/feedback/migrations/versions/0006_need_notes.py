"""Reserved for issue 19 (need notes by named staff); no change yet.

The slot is taken now so that work landing in parallel keeps one linear history.

Revision ID: feedback_0006
Revises: feedback_0005
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "feedback_0006"
down_revision = "feedback_0005"
branch_labels = None
depends_on = None

SCHEMA = "feedback"  # logical; the connection translates it


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
