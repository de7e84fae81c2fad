"""The choices of patients for qualitative interviews, with their seeds (issue 21 part 4).

Revision ID: scheduler_0015
Revises: scheduler_0014
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scheduler_0015"
down_revision = "scheduler_0014"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "study_interview_selections",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("study_id", _ID, sa.ForeignKey(f"{SCHEMA}.studies.id"), nullable=False),
        sa.Column("arm", sa.String(20), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("wanted", sa.Integer(), nullable=False),
        sa.Column("chosen", sa.JSON(), nullable=False),
        sa.Column("eligible", sa.JSON(), nullable=False),
        sa.Column("made_by", sa.String(16), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_scheduler_study_interview_selections_study_id",
        "study_interview_selections",
        ["study_id"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("study_interview_selections", schema=SCHEMA)
