"""The DATABASE_URL forms platforms hand out (`postgresql://`, `postgres://`) run the suite
on asyncpg, the driver it is tested on: psycopg, which a bare `postgresql://` used to get,
failed `mmt bench dispatch` deep inside (`can't change 'autocommit' now`)."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from mmt import app
from shared.db import Database
from shared.settings import get_settings
from tests.conftest import Backends


def _bare(backends: Backends, scheme: str) -> str:
    return f"{scheme}://{backends.database_url.split('://', 1)[1]}"


def _invoke(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *args: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        assert get_settings().database.database_url.startswith("postgresql+asyncpg://")
        result = CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_migrate_with_a_bare_postgresql_url(
    backends: Backends, isolation: str, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    env = {"DATABASE_URL": _bare(backends, scheme), "DATABASE_SCHEMA_PREFIX": isolation}
    try:
        output = _invoke(monkeypatch, env, "migrate")
        assert output.splitlines() == [
            "access: migrated",
            "content: migrated",
            "scheduler: migrated",
            "feedback: migrated",
        ]
    finally:
        asyncio.run(_drop(backends, isolation))


async def _drop(backends: Backends, prefix: str) -> None:
    for owner in ("access", "content", "scheduler", "feedback"):
        db = Database(backends.database_url, owner, schema_prefix=prefix)
        await db.drop_schema()
        await db.dispose()


def test_bench_dispatch_with_a_bare_postgresql_url(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"DATABASE_URL": _bare(backends, "postgresql"), "REDIS_URL": backends.redis_url}
    output = _invoke(monkeypatch, env, "bench", "dispatch", "--reminders", "40", "--no-yardsticks")
    figures = json.loads(output.strip().splitlines()[-1])
    assert figures["states"] == {"sent": 40}
    assert figures["provider_accepted"] == 40
