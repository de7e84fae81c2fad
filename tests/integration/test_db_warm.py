"""An API fills its database pools before it serves (Database.warm, shared.web)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from shared.db import Database
from shared.settings import DatabaseSettings, Settings
from tests.conftest import Backends, build_service_app, free_port


def _idle(db: Database) -> int:
    """Connections open and waiting in the pool."""
    return int(db.engine.sync_engine.pool.checkedin())  # type: ignore[attr-defined]


async def test_warm_opens_connections_at_once_up_to_the_pool_size(backends: Backends) -> None:
    db = Database(backends.database_url, "scheduler", pool_size=3)
    try:
        assert _idle(db) == 0
        assert await db.warm(10) == 3  # never more than the pool keeps
        assert _idle(db) == 3
        async with db.autocommit() as conn:  # a request now takes one already open
            assert _idle(db) == 2
            assert (await conn.exec_driver_sql("SELECT 1")).scalar() == 1
        assert _idle(db) == 3
        assert await db.warm(0) == 0
    finally:
        await db.dispose()


async def test_warm_reports_an_unreachable_database() -> None:
    db = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/test", "scheduler")
    try:
        try:
            await db.warm(2)
        except OSError:
            pass
        else:
            raise AssertionError("warming against a closed port must raise")
        assert _idle(db) == 0
    finally:
        await db.dispose()


async def test_sqlite_has_no_pool_to_fill(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", "content")
    try:
        assert await db.warm(5) == 0
    finally:
        await db.dispose()


async def test_the_app_serves_with_its_pools_already_open(app_settings: Settings) -> None:
    app = build_service_app("scheduler", app_settings)
    async with AsyncTestClient(app=app):
        wanted = app_settings.database.database_pool_warm
        assert wanted > 0
        assert _idle(app.state.db) == wanted
        assert _idle(app.state.access_db) == wanted


def _elsewhere(app_settings: Settings, port: int, **service: Any) -> Settings:
    """The test app's settings with its database on this local port instead."""
    return Settings(
        database=DatabaseSettings(
            database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test",
            database_pool_warm=2,
        ),
        bus=app_settings.bus,
        access=app_settings.access,
        service=app_settings.service.model_copy(update=service),
    )


async def test_an_app_whose_database_is_down_still_starts_and_says_so(
    app_settings: Settings,
) -> None:
    down = _elsewhere(app_settings, free_port())
    async with AsyncTestClient(app=build_service_app("scheduler", down)) as client:
        assert (await client.get("/health")).status_code == 200
        ready = await client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unavailable")


async def test_an_app_whose_database_never_answers_starts_after_a_bounded_wait(
    app_settings: Settings,
) -> None:
    # A port that accepts connections and never answers (a firewall dropping packets, a
    # hung server): the warm-up gives up after 5 x READY_TIMEOUT_S and the app serves.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        hung = _elsewhere(app_settings, port, ready_timeout_s=0.1)
        started = time.monotonic()
        async with AsyncTestClient(app=build_service_app("scheduler", hung)) as client:
            assert time.monotonic() - started < 5
            assert (await client.get("/health")).status_code == 200
