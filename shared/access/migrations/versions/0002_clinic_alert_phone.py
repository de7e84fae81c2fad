"""The on-call coordinator's phone of each clinic: urgent needs are texted to it.

Revision ID: access_0002
Revises: access_0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "access_0002"
down_revision = "access_0001"
branch_labels = None
depends_on = None

SCHEMA = "access"  # logical; ALTER TABLE needs the real name (below)


def _schema() -> str | None:
    translate = op.get_bind().get_execution_options().get("schema_translate_map") or {}
    schema: str | None = translate.get(SCHEMA, SCHEMA)
    return schema


def upgrade() -> None:
    op.add_column(
        "clinics", sa.Column("alert_phone", sa.String(20), nullable=True), schema=_schema()
    )


def downgrade() -> None:
    op.drop_column("clinics", "alert_phone", schema=_schema())
