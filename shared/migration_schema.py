"""For migrations: the real schema behind a service's logical one.

Migrations create tables under a logical schema name ("feedback") that the connection's
schema_translate_map turns into the real one (a test's prefixed schema, or none on SQLite).
ALTER TABLE is not translated, so a migration that alters a table asks here.
"""

from __future__ import annotations

from alembic import op


def real_schema(logical: str) -> str | None:
    translate = op.get_bind().get_execution_options().get("schema_translate_map") or {}
    schema: str | None = translate.get(logical, logical)
    return schema
