"""When each patient became active, paused or discharged (the adherence calendar).

Patients enrolled before this revision get what is known: active from enrolment and, if
they are paused or discharged now, that state from their last change (`updated_at`).

Revision ID: scheduler_0005
Revises: scheduler_0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scheduler_0005"
down_revision = "scheduler_0004"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it


def upgrade() -> None:
    states = op.create_table(
        "patient_states",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "patient_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey(f"{SCHEMA}.patients.id"),
            nullable=False,
        ),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_scheduler_patient_states_patient_id", "patient_states", ["patient_id"], schema=SCHEMA
    )
    # A Table, not a lightweight table(): only a Table's schema is translated.
    patients = sa.Table(
        "patients",
        sa.MetaData(),
        sa.Column("id", sa.BigInteger()),
        sa.Column("state", sa.String(20)),
        sa.Column("enrolled_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    assert states is not None
    columns = ["patient_id", "state", "at"]
    op.execute(
        states.insert().from_select(
            columns, sa.select(patients.c.id, sa.literal("active"), patients.c.enrolled_at)
        )
    )
    op.execute(
        states.insert().from_select(
            columns,
            sa.select(patients.c.id, patients.c.state, patients.c.updated_at).where(
                patients.c.state != "active"
            ),
        )
    )


def downgrade() -> None:
    op.drop_table("patient_states", schema=SCHEMA)
