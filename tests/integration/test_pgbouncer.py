"""The suite behind a real PgBouncer in transaction mode (DATABASE_PGBOUNCER=true).

Most hosted PostgreSQL sits behind PgBouncer in transaction mode, where each transaction
gets whichever server connection is free. The fixture runs Debian's `pgbouncer` on a free
port in front of the test PostgreSQL, with two server connections for many clients, so
that one client's consecutive transactions can land on different servers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asyncpg.exceptions import PostgresError
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from mmt.registry import load_service
from services.scheduler import planner
from services.scheduler.models import Message, Patient
from services.scheduler.settings import SchedulerSettings
from shared.db import Database
from shared.migrate import ACCESS_MIGRATIONS, migrate
from shared.net import free_port, wait_for_port
from tests.conftest import Backends
from tests.integration.schedutil import clinic, context, enrol

pytestmark = pytest.mark.usefixtures("secrets_env")
NOW = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def bouncer(backends: Backends) -> Iterator[str]:
    """A transaction-mode PgBouncer in front of the test database; its URL."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    assert os.path.exists(binary), "pgbouncer is not installed (.ci/run installs it)"
    url = make_url(backends.database_url)
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    folder.chmod(0o777)  # PgBouncer refuses to run as root: it runs as postgres below
    server = f"host={url.host} port={url.port or 5432} dbname={url.database}"
    (folder / "users.txt").write_text(f'"{url.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"{url.database} = {server} pool_size=2\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\n"
        f"unix_socket_dir =\nauth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        "pool_mode = transaction\nmax_client_conn = 200\n"
        f"logfile = {folder / 'pgbouncer.log'}\n"
    )
    argv = [binary, "-q", str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:
        argv[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        try:
            wait_for_port(port, timeout_s=10)
        except RuntimeError:
            log = folder / "pgbouncer.log"
            pytest.fail(f"pgbouncer did not start: {log.read_text() if log.exists() else ''}")
        yield url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def bounced(bouncer: str, isolation: str) -> AsyncIterator[tuple[Database, Database]]:
    """The scheduler's and the access schema's databases, migrated through PgBouncer."""
    made = []
    for name, migrations in (
        ("access", ACCESS_MIGRATIONS),
        ("scheduler", load_service("scheduler").migrations),
    ):
        db = Database(bouncer, name, schema_prefix=isolation, pool_size=8, pgbouncer=True)
        await migrate(db, migrations)
        made.append(db)
    yield made[1], made[0]
    for db in made:
        await db.drop_schema()
        await db.dispose()


async def _reuse_a_statement_on_another_server(db: Database) -> list[int]:
    """Client A runs a query; client B then holds the server connection A used (PgBouncer
    hands out the most recently used one first), so A's next transaction runs on the
    other server. What A's query answered each time."""
    query = text("SELECT CAST(:n AS integer) + 1")
    answers = []
    try:
        async with db.engine.connect() as a, db.engine.connect() as b:
            async with a.begin():
                answers.append((await a.execute(query, {"n": 1})).scalar_one())
            async with b.begin():
                await b.execute(text("SELECT 1"))  # B now holds that server
                async with a.begin():
                    answers.append((await a.execute(query, {"n": 2})).scalar_one())
    finally:
        await db.dispose()
    return answers


async def test_without_the_setting_a_cached_statement_is_missing_on_the_next_server(
    bouncer: str, isolation: str
) -> None:
    """The reason for the setting: asyncpg and SQLAlchemy keep prepared statements per
    client connection, but behind PgBouncer a client's next transaction may run on another
    server connection, where the statement was never prepared."""
    db = Database(bouncer, "scheduler", schema_prefix=isolation, pool_size=2)
    with pytest.raises(DBAPIError) as failed:
        await _reuse_a_statement_on_another_server(db)
    assert isinstance(failed.value.orig.__cause__, PostgresError)  # type: ignore[union-attr]
    assert "prepared statement" in str(failed.value)


async def test_with_the_setting_the_same_clients_run(bouncer: str, isolation: str) -> None:
    db = Database(bouncer, "scheduler", schema_prefix=isolation, pool_size=2, pgbouncer=True)
    assert await _reuse_a_statement_on_another_server(db) == [2, 3]


async def test_the_scheduler_runs_behind_pgbouncer(bounced: tuple[Database, Database]) -> None:
    """Migrations, enrolments, the planner's release (bulk statements over arrays) and the
    coordinators' autocommit reads, many clients at once on two server connections."""
    db, access_db = bounced
    clinic_id = await clinic(access_db)
    ctx = context(db, access_db, clock=lambda: NOW)

    async def enrol_some(start: int) -> None:
        for n in range(start, start + 5):
            await enrol(ctx, clinic_id, f"{n:04d}")

    async def read_counts() -> list[int]:
        counts = []
        for _ in range(10):
            async with db.autocommit() as conn:
                counts.append((await conn.execute(select(func.count(Patient.id)))).scalar_one())
        return counts

    *_, counts = await asyncio.gather(*(enrol_some(s) for s in range(0, 40, 5)), read_counts())
    assert counts == sorted(counts)  # each read saw a committed state, never an error
    released = await planner.release_due(db, SchedulerSettings(), NOW)
    async with db.autocommit() as conn:
        patients = (await conn.execute(select(func.count(Patient.id)))).scalar_one()
        messages = (await conn.execute(select(func.count(Message.id)))).scalar_one()
    assert patients == 40
    assert messages == released.queued == 40  # one dose reminder each, due at NOW
