"""Frozen DDL for the bus tables, called by each service's first migration.

Never edit a function here once released: a change to these tables is a new function
called by a new migration in every service, so old histories replay exactly.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def create_bus_tables_v1(schema: str) -> None:
    op.create_table(
        "outbox",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(36), nullable=False, unique=True),
        sa.Column("message_name", sa.String(100), nullable=False),
        sa.Column("message_tag", sa.String(100), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        schema=schema,
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["seq"],
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"], schema=schema)
    op.create_table(
        "processed_messages",
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("message_tag", sa.String(100), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_index(
        "ix_processed_messages_processed_at", "processed_messages", ["processed_at"], schema=schema
    )
    op.create_table(
        "bus_probes",
        sa.Column("probe_id", sa.String(36), primary_key=True),
        sa.Column("origin", sa.String(40), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
