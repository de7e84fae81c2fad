"""Reserved for issue 21 (assessment instruments and answers); no change yet.

The slot is taken now so that work landing in parallel keeps one linear history.

Revision ID: scheduler_0013
Revises: scheduler_0012
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "scheduler_0013"
down_revision = "scheduler_0012"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
