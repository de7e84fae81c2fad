"""When a patient last wrote on WeChat (opens the 48-hour customer-service window).

Revision ID: scheduler_0004
Revises: scheduler_0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scheduler_0004"
down_revision = "scheduler_0003"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it


def _schema() -> str | None:
    """ALTER TABLE names its schema as given (no translation, unlike CREATE TABLE): resolve
    the real one (a prefixed schema, or none on SQLite) from the connection."""
    translate = op.get_bind().get_execution_options().get("schema_translate_map") or {}
    schema: str | None = translate.get(SCHEMA, SCHEMA)
    return schema


def upgrade() -> None:
    op.add_column(
        "patients",
        sa.Column("wrote_on_wechat_at", sa.DateTime(timezone=True), nullable=True),
        schema=_schema(),
    )


def downgrade() -> None:
    op.drop_column("patients", "wrote_on_wechat_at", schema=_schema())
