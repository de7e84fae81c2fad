"""Alembic migrations, one history per owner, run from code (`mmt migrate`, `mmt up`).

Owners are the shared `access` schema (clinics, tokens, audit) and each service. Their
scripts create tables under a logical schema name; the connection's schema_translate_map
points that at the real schema (or at none on SQLite), so the same scripts serve
PostgreSQL, SQLite and per-test schemas.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from shared.db import Database
from shared.settings import DatabaseSettings

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where it is used, not here: every `mmt` command (and every process
# `mmt up` starts) imports this module through the registry, and Alembic's import alone
# cost about 0.4 s of each start on this project's 2-core machines.

ACCESS_MIGRATIONS = Path(__file__).parent / "access" / "migrations"


def _config(migrations: Path, connection: Connection | None, schema: str | None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes["connection"] = connection
    config.attributes["version_table_schema"] = schema
    return config


def _upgrade(connection: Connection, migrations: Path, schema: str | None) -> None:
    if connection.dialect.name == "postgresql":
        # Two processes migrating at once (replicas starting together) take turns.
        lock_id = zlib.crc32(f"mmt-migrate-{schema}".encode())
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
    from alembic import command

    command.upgrade(_config(migrations, connection, schema), "head")


def _current(connection: Connection, schema: str | None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    return context.get_current_revision()


async def migrate(db: Database, migrations: Path) -> None:
    await db.create_schema()
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade, migrations, db.schema)


async def migrate_owners(
    settings: DatabaseSettings,
    targets: Sequence[tuple[str, Path]],
    only: str | None = None,
    report: Callable[[str], object] = lambda _line: None,
) -> None:
    """Migrate each (schema owner, migrations folder) in order, or only the one named."""
    for owner, migrations in targets:
        if only is not None and owner != only:
            continue
        db = Database.from_settings(settings, owner)
        try:
            await migrate(db, migrations)
        finally:
            await db.dispose()
        report(f"{owner}: migrated")


async def status(db: Database, migrations: Path) -> dict[str, Any]:
    """Current and head revision, for `mmt doctor`."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config(migrations, None, db.schema)).get_current_head()
    async with db.engine.connect() as conn:
        current = await conn.run_sync(_current, db.schema)
    return {"current": current, "head": head, "up_to_date": current == head}
