"""Motivational-interviewing sessions (issue 22, part 2).

Revision ID: scheduler_0018
Revises: scheduler_0017
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "scheduler_0018"
down_revision = "scheduler_0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved slot, filled in by the work it names


def downgrade() -> None:
    pass
