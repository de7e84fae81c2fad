"""How the answer to a patient's text went when it had to be sent as an SMS (Aliyun, Tencent
pushes): "sent", or "not sent: <reason>", so a coordinator sees an unanswered patient.

Revision ID: feedback_0004
Revises: feedback_0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.migration_schema import real_schema

revision = "feedback_0004"
down_revision = "feedback_0003"
branch_labels = None
depends_on = None

SCHEMA = "feedback"  # logical


def upgrade() -> None:
    op.add_column(
        "inbound_messages",
        sa.Column("answer", sa.String(200), nullable=True),
        schema=real_schema(SCHEMA),
    )


def downgrade() -> None:
    op.drop_column("inbound_messages", "answer", schema=real_schema(SCHEMA))
