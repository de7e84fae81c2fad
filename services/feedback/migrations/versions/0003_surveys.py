"""Surveys (definitions, runs, answers) and what reports group ratings by (module, arm).

Revision ID: feedback_0003
Revises: feedback_0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "feedback_0003"
down_revision = "feedback_0002"
branch_labels = None
depends_on = None

SCHEMA = "feedback"  # logical; CREATE TABLE is translated by the connection


def _schema() -> str | None:
    """ALTER TABLE names its schema as given (no translation, unlike CREATE TABLE): resolve
    the real one (a prefixed schema, or none on SQLite) from the connection."""
    translate = op.get_bind().get_execution_options().get("schema_translate_map") or {}
    schema: str | None = translate.get(SCHEMA, SCHEMA)
    return schema


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    real = _schema()
    op.add_column("last_lessons", sa.Column("module", sa.String(80), nullable=True), schema=real)
    op.add_column(
        "inbound_messages", sa.Column("module", sa.String(80), nullable=True), schema=real
    )
    op.add_column(
        "inbound_messages", sa.Column("study_arm", sa.String(20), nullable=True), schema=real
    )
    op.create_table(
        "survey_definitions",
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        schema=SCHEMA,
    )
    op.create_table(
        "survey_runs",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("survey_key", sa.String(40), nullable=False),
        sa.Column("patient_id", _id(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("study_arm", sa.String(20), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("question_index", sa.Integer(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_by", sa.String(16), nullable=False),
        sa.Column("track", sa.String(40), nullable=True),
        sa.Column("lesson_key", sa.String(80), nullable=True),
        sa.Column("module", sa.String(80), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_feedback_survey_runs_open",
        "survey_runs",
        ["patient_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'open'"),
        sqlite_where=sa.text("state = 'open'"),
    )
    op.create_index(
        "ix_feedback_survey_runs_clinic",
        "survey_runs",
        ["clinic_id", "survey_key"],
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_feedback_survey_runs_asked_at"), "survey_runs", ["asked_at"], schema=SCHEMA
    )
    op.create_table(
        "survey_answers",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("run_id", _id(), nullable=False),
        sa.Column("question_key", sa.String(40), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("value", sa.SmallInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], [f"{SCHEMA}.survey_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "question_key"),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_feedback_survey_answers_run_id"), "survey_answers", ["run_id"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("survey_answers", schema=SCHEMA)
    op.drop_table("survey_runs", schema=SCHEMA)
    op.drop_table("survey_definitions", schema=SCHEMA)
    real = _schema()
    op.drop_column("inbound_messages", "study_arm", schema=real)
    op.drop_column("inbound_messages", "module", schema=real)
    op.drop_column("last_lessons", "module", schema=real)
