"""Studies: strata given at enrolment, assessments per arm (issue 21).

Revision ID: scheduler_0019
Revises: scheduler_0018
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "scheduler_0019"
down_revision = "scheduler_0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved slot, filled in by the work it names


def downgrade() -> None:
    pass
