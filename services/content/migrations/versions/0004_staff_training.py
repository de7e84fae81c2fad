"""Staff training: lessons read, quiz rounds and scores (issue 22, part 3).

Revision ID: content_0004
Revises: content_0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "content_0004"
down_revision = "content_0003"
branch_labels = None
depends_on = None

SCHEMA = "content"  # logical; the connection translates it
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "staff_lesson_reads",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("staff_id", _ID, nullable=False),
        sa.Column("track", sa.String(40), nullable=False),
        sa.Column("lesson_key", sa.String(60), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _at("read_at"),
        sa.UniqueConstraint(
            "staff_id", "track", "lesson_key", "version", name="uq_staff_lesson_reads_once"
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_staff_lesson_reads_staff_id", "staff_lesson_reads", ["staff_id"], schema=SCHEMA
    )
    op.create_table(
        "staff_quiz_attempts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("staff_id", _ID, nullable=False),
        sa.Column("round_month", sa.Integer(), nullable=False),
        _at("taken_at"),
        sa.Column("questions", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.UniqueConstraint("staff_id", "round_month", name="uq_staff_quiz_round"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_staff_quiz_attempts_staff_id", "staff_quiz_attempts", ["staff_id"], schema=SCHEMA
    )
    op.create_table(
        "staff_quiz_answers",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "attempt_id",
            _ID,
            sa.ForeignKey(f"{SCHEMA}.staff_quiz_attempts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("track", sa.String(40), nullable=False),
        sa.Column("lesson_key", sa.String(60), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("choice", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("attempt_id", "track", "lesson_key", name="uq_staff_quiz_answer"),
        schema=SCHEMA,
    )
    op.create_table(
        "staff_training_nudges",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("staff_id", _ID, nullable=False),
        sa.Column("item", sa.String(120), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(300), nullable=True),
        _at("created_at"),
        _at("not_before", nullable=True),
        _at("sent_at", nullable=True),
        sa.UniqueConstraint("staff_id", "item", name="uq_staff_training_nudge"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_staff_training_nudges_not_before",
        "staff_training_nudges",
        ["not_before"],
        schema=SCHEMA,
    )

    op.create_table(
        "staff_training_programmes",
        sa.Column("clinic_id", _ID, primary_key=True, autoincrement=False),
        _at("starts_at"),
        _at("set_at"),
        sa.Column("set_by", sa.String(16), nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in (
        "staff_training_programmes",
        "staff_training_nudges",
        "staff_quiz_answers",
        "staff_quiz_attempts",
        "staff_lesson_reads",
    ):
        op.drop_table(table, schema=SCHEMA)
