"""Patients, the reminder plan, messages and attempts, doses, urine tests, alerts, and the
read model of the published curriculum.

Revision ID: scheduler_0002
Revises: scheduler_0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scheduler_0002"
down_revision = "scheduler_0001"
branch_labels = None
depends_on = None

SCHEMA = "scheduler"  # logical; the connection translates it


def upgrade() -> None:
    op.create_table(
        "curriculum",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("track", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("track", "version"),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_scheduler_curriculum_track"), "curriculum", ["track"], unique=False, schema=SCHEMA
    )
    op.create_table(
        "patients",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("clinic_number", sa.String(length=40), nullable=False),
        sa.Column("display_name", sa.String(length=40), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column("openid_enc", sa.Text(), nullable=True),
        sa.Column("openid_hash", sa.String(length=64), nullable=True),
        sa.Column("channel_order", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("dose_time", sa.Time(), nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=False),
        sa.Column("quiet_end", sa.Time(), nullable=False),
        sa.Column("lesson_weekdays", sa.String(length=20), nullable=True),
        sa.Column("lesson_time", sa.Time(), nullable=True),
        sa.Column("track", sa.String(length=40), nullable=True),
        sa.Column("study_arm", sa.String(length=20), nullable=True),
        sa.Column("explicit_wording", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("pause_reason", sa.String(length=200), nullable=True),
        sa.Column("resume_on", sa.Date(), nullable=True),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent_version", sa.String(length=40), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consent_recorded_by", sa.String(length=16), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clinic_id", "clinic_number"),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_scheduler_patients_clinic_id"),
        "patients",
        ["clinic_id"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_scheduler_patients_openid_hash"),
        "patients",
        ["openid_hash"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_scheduler_patients_phone_hash"),
        "patients",
        ["phone_hash"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_scheduler_patients_state"), "patients", ["state"], unique=False, schema=SCHEMA
    )
    op.create_table(
        "alerts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("raised_on", sa.Date(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=16), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            [f"{SCHEMA}.patients.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "kind", "raised_on"),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_scheduler_alerts_clinic_id"), "alerts", ["clinic_id"], unique=False, schema=SCHEMA
    )
    op.create_index(
        op.f("ix_scheduler_alerts_patient_id"),
        "alerts",
        ["patient_id"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_table(
        "doses",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mg", sa.Float(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            [f"{SCHEMA}.patients.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "local_date"),
        schema=SCHEMA,
    )
    op.create_table(
        "lesson_progress",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("track", sa.String(length=40), nullable=False),
        sa.Column("lesson_key", sa.String(length=60), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            [f"{SCHEMA}.patients.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "track", "lesson_key"),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_scheduler_lesson_progress_patient_id"),
        "lesson_progress",
        ["patient_id"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_table(
        "occurrences",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(length=60), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            [f"{SCHEMA}.patients.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "kind", "local_date", "slot"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_occurrences_due",
        "occurrences",
        ["due_at"],
        unique=False,
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'planned'"),
        sqlite_where=sa.text("state = 'planned'"),
    )
    op.create_index(
        op.f("ix_scheduler_occurrences_patient_id"),
        "occurrences",
        ["patient_id"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_table(
        "urine_tests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("substances", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            [f"{SCHEMA}.patients.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_scheduler_urine_tests_patient_id"),
        "urine_tests",
        ["patient_id"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "occurrence_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("provider_id", sa.String(length=80), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lesson_key", sa.String(length=60), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["occurrence_id"],
            [f"{SCHEMA}.occurrences.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            [f"{SCHEMA}.patients.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("occurrence_id"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_messages_clinic_day",
        "messages",
        ["clinic_id", "local_date"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_index(
        "ix_messages_retry",
        "messages",
        ["retry_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("retry_at IS NOT NULL"),
        sqlite_where=sa.text("retry_at IS NOT NULL"),
    )
    op.create_index(
        "ix_messages_open",
        "messages",
        ["expires_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("state IN ('queued', 'sending')"),
        sqlite_where=sa.text("state IN ('queued', 'sending')"),
    )
    op.create_index(
        op.f("ix_scheduler_messages_patient_id"),
        "messages",
        ["patient_id"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_table(
        "attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("provider_id", sa.String(length=80), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            [f"{SCHEMA}.messages.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_scheduler_attempts_message_id"),
        "attempts",
        ["message_id"],
        unique=False,
        schema=SCHEMA,
    )
    op.drop_index(
        op.f("ix_processed_messages_processed_at"), table_name="processed_messages", schema=SCHEMA
    )
    op.create_index(
        op.f("ix_scheduler_processed_messages_processed_at"),
        "processed_messages",
        ["processed_at"],
        unique=False,
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in (
        "attempts",
        "messages",
        "urine_tests",
        "occurrences",
        "lesson_progress",
        "doses",
        "alerts",
        "patients",
        "curriculum",
    ):
        op.drop_table(table, schema=SCHEMA)
