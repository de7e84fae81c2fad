"""Alembic migrations, one history per service, run from code (`mmt migrate`, `mmt up`).

Each service's scripts create tables under its logical schema name; the connection's
schema_translate_map points that at the real schema (or at none on SQLite), so the same
scripts serve PostgreSQL, SQLite and per-test schemas.
"""

from __future__ import annotations

import zlib
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from shared.db import Database
from shared.service import ServiceDefinition


def _config(
    definition: ServiceDefinition, connection: Connection | None, schema: str | None
) -> Config:
    config = Config()
    config.set_main_option("script_location", str(definition.migrations))
    config.attributes["connection"] = connection
    config.attributes["version_table_schema"] = schema
    return config


def _upgrade(connection: Connection, definition: ServiceDefinition, schema: str | None) -> None:
    if connection.dialect.name == "postgresql":
        # Two processes migrating at once (replicas starting together) take turns.
        lock_id = zlib.crc32(f"mmt-migrate-{schema}".encode())
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
    command.upgrade(_config(definition, connection, schema), "head")


def _current(connection: Connection, schema: str | None) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    return context.get_current_revision()


async def migrate(db: Database, definition: ServiceDefinition) -> None:
    await db.create_schema()
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade, definition, db.schema)


async def status(db: Database, definition: ServiceDefinition) -> dict[str, Any]:
    """Current and head revision, for `mmt doctor`."""
    head = ScriptDirectory.from_config(_config(definition, None, db.schema)).get_current_head()
    async with db.engine.connect() as conn:
        current = await conn.run_sync(_current, db.schema)
    return {"current": current, "head": head, "up_to_date": current == head}
