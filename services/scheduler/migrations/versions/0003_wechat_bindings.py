"""One-time WeChat binding codes.

Revision ID: scheduler_0003
Revises: scheduler_0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scheduler_0003"
down_revision = "scheduler_0002"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it


def upgrade() -> None:
    op.create_table(
        "wechat_bindings",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column(
            "patient_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey(f"{SCHEMA}.patients.id"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_scheduler_wechat_bindings_patient_id", "wechat_bindings", ["patient_id"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("wechat_bindings", schema=SCHEMA)
