"""Studies: an arm's switch for assessment reminders, and patients' replies as the feedback
service announced them (issue 21 follow-ups).

`study_arms.assessment_reminders`: every arm defined before had them (true).
`patient_replies`: a read model of `ReplyReceived` for the study export's engagement
columns, unique on the event id (a redelivery adds nothing). No words, only the kind.

Revision ID: scheduler_0019
Revises: scheduler_0018
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.migration_schema import real_schema

revision = "scheduler_0019"
down_revision = "scheduler_0018"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "study_arms",
        sa.Column("assessment_reminders", sa.Boolean(), nullable=False, server_default=sa.true()),
        schema=real_schema(SCHEMA),
    )
    op.create_table(
        "patient_replies",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("patient_id", _ID, sa.ForeignKey(f"{SCHEMA}.patients.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_scheduler_patient_replies_patient_id", "patient_replies", ["patient_id"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("patient_replies", schema=SCHEMA)
    op.drop_column("study_arms", "assessment_reminders", schema=real_schema(SCHEMA))
