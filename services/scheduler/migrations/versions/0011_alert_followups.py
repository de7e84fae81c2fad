"""Issue 19: follow-up notes with an outcome on alerts, and a card code per patient.

- `alert_followups`: what a coordinator did about a dropout alert (a note, an outcome,
  the writer's token id and name, kept at writing since console tokens expire).
- `patients.card_code`: the opaque code printed on a patient's card and scanned at the
  counter to record the observed dose. Existing patients get one here; new ones on insert.

Revision ID: scheduler_0011
Revises: scheduler_0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

from shared.migration_schema import real_schema

revision = "scheduler_0011"
down_revision = "scheduler_0010"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it
_BATCH = 5_000


def upgrade() -> None:
    op.create_table(
        "alert_followups",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column(
            "alert_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey(f"{SCHEMA}.alerts.id"),
            nullable=False,
        ),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("author_name", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_scheduler_alert_followups_alert_id", "alert_followups", ["alert_id"], schema=SCHEMA
    )
    real = real_schema(SCHEMA)
    op.add_column("patients", sa.Column("card_code", sa.String(24), nullable=True), schema=real)
    # Random codes made here, not in SQL: the same on PostgreSQL and SQLite.
    patients = sa.table("patients", sa.column("id"), sa.column("card_code"), schema=real)
    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.select(patients.c.id))]
    for start in range(0, len(ids), _BATCH):
        bind.execute(
            patients.update()
            .where(patients.c.id == sa.bindparam("pid"))
            .values(card_code=sa.bindparam("code")),
            [{"pid": i, "code": secrets.token_hex(8).upper()} for i in ids[start : start + _BATCH]],
        )
    op.create_index(
        "ix_scheduler_patients_card_code", "patients", ["card_code"], unique=True, schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_index("ix_scheduler_patients_card_code", "patients", schema=SCHEMA)
    op.drop_column("patients", "card_code", schema=real_schema(SCHEMA))
    op.drop_table("alert_followups", schema=SCHEMA)
