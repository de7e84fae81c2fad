"""Curriculum: tracks, their versions, modules, lessons and lesson translations.

Revision ID: content_0002
Revises: content_0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "content_0002"
down_revision = "content_0001"
branch_labels = None
depends_on = None

SCHEMA = "content"  # logical; the connection translates it
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tracks",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "track_versions",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "track_id",
            _ID,
            sa.ForeignKey(f"{SCHEMA}.tracks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("titles", sa.JSON(), nullable=False),
        sa.Column("lessons_per_week", sa.Integer(), nullable=False),
        sa.Column("weekdays", sa.JSON(), nullable=False),
        sa.Column("local_time", sa.String(5), nullable=False),
        sa.Column("next_track", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("track_id", "version", name="uq_track_versions_track_version"),
        sa.CheckConstraint("state IN ('draft', 'published')", name="ck_track_versions_state"),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_track_versions_one_draft",
        "track_versions",
        ["track_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'draft'"),
        sqlite_where=sa.text("state = 'draft'"),
    )
    op.create_table(
        "modules",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "track_version_id",
            _ID,
            sa.ForeignKey(f"{SCHEMA}.track_versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("titles", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.UniqueConstraint("track_version_id", "code", name="uq_modules_version_code"),
        schema=SCHEMA,
    )
    op.create_index("ix_modules_track_version_id", "modules", ["track_version_id"], schema=SCHEMA)
    op.create_table(
        "lessons",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "track_version_id",
            _ID,
            sa.ForeignKey(f"{SCHEMA}.track_versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "module_id",
            _ID,
            sa.ForeignKey(f"{SCHEMA}.modules.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key", sa.String(60), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("quiz_answer", sa.Integer(), nullable=True),
        sa.UniqueConstraint("track_version_id", "key", name="uq_lessons_version_key"),
        schema=SCHEMA,
    )
    op.create_index("ix_lessons_module_id", "lessons", ["module_id"], schema=SCHEMA)
    op.create_table(
        "lesson_translations",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "lesson_id",
            _ID,
            sa.ForeignKey(f"{SCHEMA}.lessons.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("language", sa.String(10), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("notification", sa.String(400), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("quiz_question", sa.String(500), nullable=True),
        sa.Column("quiz_options", sa.JSON(), nullable=True),
        sa.UniqueConstraint("lesson_id", "language", name="uq_lesson_translations_language"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("lesson_translations", "lessons", "modules", "track_versions", "tracks"):
        op.drop_table(table, schema=SCHEMA)
