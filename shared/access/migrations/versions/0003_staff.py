"""Staff accounts for the console, and the staff member a token was minted for.

Revision ID: access_0003
Revises: access_0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "access_0003"
down_revision = "access_0002"
branch_labels = None
depends_on = None

SCHEMA = "access"  # logical; ALTER TABLE needs the real name (below)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _schema() -> str | None:
    translate = op.get_bind().get_execution_options().get("schema_translate_map") or {}
    schema: str | None = translate.get(SCHEMA, SCHEMA)
    return schema


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("login", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("clinic_ids", sa.JSON(), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("phone_hash", sa.String(64), nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    # batch: SQLite cannot add a foreign key with ALTER TABLE.
    with op.batch_alter_table("api_tokens", schema=_schema()) as batch:
        batch.add_column(sa.Column("staff_id", _ID, nullable=True))
        batch.create_foreign_key(
            "fk_api_tokens_staff", "staff", ["staff_id"], ["id"], referent_schema=_schema()
        )
        batch.create_index("ix_api_tokens_staff_id", ["staff_id"])


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=_schema()) as batch:
        batch.drop_index("ix_api_tokens_staff_id")
        batch.drop_constraint("fk_api_tokens_staff", type_="foreignkey")
        batch.drop_column("staff_id")
    op.drop_table("staff", schema=SCHEMA)
