"""Senders (read model of patients: look-up hashes only), last lessons, inbound messages,
needs and their follow-up notes.

Revision ID: feedback_0002
Revises: feedback_0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "feedback_0002"
down_revision = "feedback_0001"
branch_labels = None
depends_on = None

SCHEMA = "feedback"  # logical; the connection translates it


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _index(table: str, *columns: str, name: str | None = None) -> None:
    op.create_index(
        name or op.f(f"ix_{SCHEMA}_{table}_{columns[0]}"),
        table,
        list(columns),
        unique=False,
        schema=SCHEMA,
    )


def upgrade() -> None:
    op.create_table(
        "senders",
        sa.Column("patient_id", _id(), autoincrement=False, nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column("openid_hash", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("study_arm", sa.String(length=20), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opt_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("patient_id"),
        schema=SCHEMA,
    )
    _index("senders", "clinic_id")
    _index("senders", "phone_hash")
    _index("senders", "openid_hash")
    op.create_table(
        "last_lessons",
        sa.Column("patient_id", _id(), autoincrement=False, nullable=False),
        sa.Column("track", sa.String(length=40), nullable=False),
        sa.Column("lesson_key", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("patient_id"),
        schema=SCHEMA,
    )
    op.create_table(
        "inbound_messages",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("patient_id", _id(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("provider_id", sa.String(length=80), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("track", sa.String(length=40), nullable=True),
        sa.Column("lesson_key", sa.String(length=80), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "provider_id"),
        schema=SCHEMA,
    )
    _index("inbound_messages", "patient_id")
    _index(
        "inbound_messages",
        "clinic_id",
        "received_at",
        name="ix_feedback_inbound_clinic_received",
    )
    op.create_table(
        "needs",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("inbound_id", _id(), nullable=False),
        sa.Column("patient_id", _id(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["inbound_id"], [f"{SCHEMA}.inbound_messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        schema=SCHEMA,
    )
    _index("needs", "patient_id")
    _index("needs", "clinic_id", "status", "id", name="ix_feedback_needs_clinic_status")
    op.create_table(
        "need_notes",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("need_id", _id(), nullable=False),
        sa.Column("author", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["need_id"], [f"{SCHEMA}.needs.id"]),
        sa.PrimaryKeyConstraint("id"),
        schema=SCHEMA,
    )
    _index("need_notes", "need_id")


def downgrade() -> None:
    for table in ("need_notes", "needs", "inbound_messages", "last_lessons", "senders"):
        op.drop_table(table, schema=SCHEMA)
