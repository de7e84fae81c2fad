"""Studies and randomisation (issue 21 part 1): studies, arms and their policies, clinics
allocated in cluster studies, participants, each stratum's block state, and the
append-only allocation log (the database refuses UPDATE and DELETE on it).

Revision ID: scheduler_0012
Revises: scheduler_0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.migration_schema import real_schema

revision = "scheduler_0012"
down_revision = "scheduler_0011"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)
_LOG = "study_allocation_log"


def _fk(table: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{SCHEMA}.{table}.id")


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(40), nullable=False, unique=True),
        sa.Column("unit", sa.String(10), nullable=False),
        sa.Column("consent_version", sa.String(40), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("defined_by", sa.String(16), nullable=False),
        sa.Column("defined_at", _AT, nullable=False),
        sa.Column("closed_at", _AT, nullable=True),
        schema=SCHEMA,
    )
    op.create_table(
        "study_arms",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("study_id", _ID, _fk("studies"), nullable=False),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("ratio", sa.Integer(), nullable=False),
        sa.Column("dose_reminders", sa.Boolean(), nullable=False),
        sa.Column("lessons", sa.Boolean(), nullable=False),
        sa.Column("surveys", sa.Boolean(), nullable=False),
        sa.Column("tracks_limited", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("study_id", "code"),
        schema=SCHEMA,
    )
    op.create_table(
        "study_arm_tracks",
        sa.Column("arm_id", _ID, _fk("study_arms"), primary_key=True),
        sa.Column("track", sa.String(40), primary_key=True),
        schema=SCHEMA,
    )
    op.create_table(
        "study_clinics",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("study_id", _ID, _fk("studies"), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("arm_id", _ID, _fk("study_arms"), nullable=False),
        sa.Column("stratum", sa.String(80), nullable=False),
        sa.Column("allocated_at", _AT, nullable=False),
        sa.UniqueConstraint("study_id", "clinic_id"),
        schema=SCHEMA,
    )
    op.create_table(
        "study_participants",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("study_id", _ID, _fk("studies"), nullable=False),
        sa.Column("patient_id", _ID, _fk("patients"), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("consent_version", sa.String(40), nullable=True),
        sa.Column("consent_at", _AT, nullable=True),
        sa.Column("strata", sa.JSON(), nullable=False),
        sa.Column("baseline_on", sa.Date(), nullable=True),
        sa.Column("arm_id", _ID, _fk("study_arms"), nullable=True),
        sa.Column("randomised_at", _AT, nullable=True),
        sa.Column("lost_on", sa.Date(), nullable=True),
        sa.Column("lost_reason", sa.String(30), nullable=True),
        sa.Column("lost_note", sa.String(200), nullable=True),
        sa.Column("enrolled_by", sa.String(16), nullable=False),
        sa.Column("enrolled_at", _AT, nullable=False),
        sa.UniqueConstraint("study_id", "patient_id"),
        schema=SCHEMA,
    )
    op.create_table(
        "study_blocks",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("study_id", _ID, _fk("studies"), nullable=False),
        sa.Column("stratum", sa.String(200), nullable=False),
        sa.Column("remaining", sa.JSON(), nullable=False),
        sa.UniqueConstraint("study_id", "stratum"),
        schema=SCHEMA,
    )
    op.create_table(
        _LOG,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("study_id", _ID, _fk("studies"), nullable=False),
        sa.Column("patient_id", _ID, _fk("patients"), nullable=True),
        sa.Column("clinic_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("arm", sa.String(20), nullable=False),
        sa.Column("previous_arm", sa.String(20), nullable=True),
        sa.Column("stratum", sa.String(200), nullable=True),
        sa.Column("reason", sa.String(300), nullable=True),
        sa.Column("by", sa.String(16), nullable=False),
        sa.Column("at", _AT, nullable=False),
        schema=SCHEMA,
    )
    for table, column in (
        ("study_arms", "study_id"),
        ("study_clinics", "study_id"),
        ("study_participants", "study_id"),
        ("study_participants", "patient_id"),  # the planner's look-up of a patient's arms
        (_LOG, "study_id"),
    ):
        op.create_index(f"ix_scheduler_{table}_{column}", table, [column], schema=SCHEMA)
    _append_only()


def _append_only() -> None:
    """The allocation log refuses to change history, whatever the code does."""
    refusal = f"{_LOG} is append-only"
    if op.get_bind().dialect.name != "postgresql":  # SQLite: `make run`
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {_LOG}_no_{event.lower()} BEFORE {event} ON {_LOG} "
                f"BEGIN SELECT RAISE(ABORT, '{refusal}'); END"
            )
        return
    schema = f'"{real_schema(SCHEMA)}"'
    op.execute(
        f"CREATE FUNCTION {schema}.{_LOG}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{refusal}'; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {_LOG}_append_only BEFORE UPDATE OR DELETE ON {schema}.{_LOG} "
        f"FOR EACH ROW EXECUTE FUNCTION {schema}.{_LOG}_append_only()"
    )
    op.execute(
        f"CREATE TRIGGER {_LOG}_no_truncate BEFORE TRUNCATE ON {schema}.{_LOG} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {schema}.{_LOG}_append_only()"
    )


def downgrade() -> None:
    for table in (
        _LOG,
        "study_blocks",
        "study_participants",
        "study_clinics",
        "study_arm_tracks",
        "study_arms",
        "studies",
    ):
        op.drop_table(table, schema=SCHEMA)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f'DROP FUNCTION "{real_schema(SCHEMA)}".{_LOG}_append_only()')
