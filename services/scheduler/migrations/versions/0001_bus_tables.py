"""Bus tables: outbox, processed messages, bus probes.

Revision ID: scheduler_0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

from shared.bus.migration_ops import create_bus_tables_v1

revision = "scheduler_0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it


def upgrade() -> None:
    create_bus_tables_v1(SCHEMA)


def downgrade() -> None:
    for table in ("bus_probes", "processed_messages", "outbox"):
        op.drop_table(table, schema=SCHEMA)
