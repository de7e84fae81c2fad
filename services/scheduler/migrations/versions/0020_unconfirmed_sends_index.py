"""An index of the messages sent and not yet confirmed, for the missing-receipt fallback.

The fallback's sweep (`sweeps.fall_back_without_receipt`, every few seconds on every
worker) looks for messages `sent` longer ago than the receipt wait. No index led there:
PostgreSQL read the whole messages table each time, every day's history included (231 ms a
sweep with 400,000 rows in `mmt bench morning`, 19 s of the database's time in a 200,000
morning; a national programme keeps millions). A message stays in `sent` only until its
receipt comes, so this partial index holds the morning's unconfirmed sends and is empty
most of the day.

Built inside the migration's transaction: on a large table the build holds writes to
`messages` back for its duration (seconds per million rows), so migrate outside the
morning burst.

Revision ID: scheduler_0020
Revises: scheduler_0019
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scheduler_0020"
down_revision = "scheduler_0019"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it
_SENT = "state = 'sent'"


def upgrade() -> None:
    op.create_index(
        "ix_messages_unconfirmed",
        "messages",
        ["updated_at"],
        schema=SCHEMA,
        postgresql_where=sa.text(_SENT),
        sqlite_where=sa.text(_SENT),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_unconfirmed", table_name="messages", schema=SCHEMA)
