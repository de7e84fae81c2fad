"""Reserved for issue 20 (opening hours per weekday, take-home notices); no change yet.

The slot is taken now so that work landing in parallel keeps one linear history.

Revision ID: scheduler_0010
Revises: scheduler_0009
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "scheduler_0010"
down_revision = "scheduler_0009"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
