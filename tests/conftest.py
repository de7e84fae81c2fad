"""Fixtures shared by every tier.

Integration and end-to-end tests use the real PostgreSQL and Redis named by DATABASE_URL
and REDIS_URL (`.ci/run` sets both). When they are unset and a Docker engine exists,
testcontainers starts throwaway ones. Each test gets its own schema prefix and bus key
prefix and removes them afterwards, so tests never see each other's data.

Nothing is left behind: `isolation` drops every schema and key under its prefix when its
test ends (whatever the test, its apps or the processes it started made there), and the
session ends by checking every prefix this run used, the tests' and those of the harnesses
it drove (fuzzer, benchmarks, chaos): a schema or key still there fails the run.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import redis as sync_redis
from litestar import Litestar
from psycopg import sql
from redis.asyncio import Redis
from sqlalchemy import make_url

from mmt.processes import private_redis_argv
from mmt.registry import load_service
from shared.access.tokens import Role, issue_token
from shared.crypto import generate_keys
from shared.db import Database
from shared.migrate import ACCESS_MIGRATIONS, migrate
from shared.net import free_port, wait_for_port
from shared.service import ServiceDefinition
from shared.settings import (
    AccessSettings,
    BusSettings,
    DatabaseSettings,
    ServiceSettings,
    Settings,
    normalise_database_url,
)


@dataclass(frozen=True)
class Backends:
    database_url: str
    redis_url: str


def _from_containers() -> Backends:
    # Imported only here: constructing a container without a Docker engine raises.
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    postgres = PostgresContainer("postgres:16-alpine", driver="asyncpg").start()
    redis = RedisContainer("redis:7-alpine").start()
    redis_url = f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
    return Backends(postgres.get_connection_url(), redis_url)


def _backends() -> Backends:
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if database_url and redis_url:
        try:
            # The suite's own rule: postgres:// and postgresql:// run on asyncpg too.
            database_url = normalise_database_url(database_url)
        except ValueError as exc:
            pytest.fail(f"DATABASE_URL: {exc}")
        if not database_url.startswith("postgresql"):
            pytest.fail(
                "integration tests need PostgreSQL: set DATABASE_URL=postgresql+asyncpg://..."
            )
        return Backends(database_url, redis_url)
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    ):
        return _from_containers()
    pytest.fail(
        "integration tests need PostgreSQL and Redis: set DATABASE_URL and REDIS_URL "
        "(see README), or run a Docker engine for testcontainers"
    )


@pytest.fixture(scope="session")
def backends() -> Backends:
    found = _backends()
    _RUN.backends = found
    return found


# What this run left behind. Other runs may share the servers, so the check looks only at
# the prefixes this run used (never at "whatever is new"): each test's `isolation`, and every
# schema prefix a Database was opened with in this process (the fuzzer's `fz…_`, the
# benchmarks' `bench…_`, chaos runs' `chaos…_`, which also name their Redis keys).


@dataclass
class _Run:
    backends: Backends | None = None
    prefixes: dict[str, str] | None = None  # prefix -> who used it first

    def used(self, prefix: str, by: str) -> None:
        if self.prefixes is not None and prefix:
            self.prefixes.setdefault(prefix, by)


_RUN = _Run()
# A made-up prefix: letters then random hex (`t1a2b…_`, `fz…_`, `bench…_`, `chaos…_`), not a
# short fixed one (`t1_` in a unit test) that would also match other runs' keys.
THROWAWAY_PREFIX = re.compile(r"[a-z]+[0-9a-f]{8,}_")


def postgres_conninfo(database_url: str) -> str:
    """The libpq form of an SQLAlchemy URL (postgresql+asyncpg://... -> postgresql://...)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


def left_behind(found: Backends, prefix: str) -> list[str]:
    """Schemas and Redis keys under `prefix` (keys under its bus form, `prefix` minus `_`,
    bare or as a hash tag)."""
    with psycopg.connect(postgres_conninfo(found.database_url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s) ORDER BY 1",
            (prefix,),
        ).fetchall()
    client = sync_redis.Redis.from_url(found.redis_url)
    try:
        bus = prefix.rstrip("_")
        # Bus keys start with their prefix as a hash tag ("{t1234_:stream:..."); others
        # (pacing, caps) with the bare prefix. Braces are plain characters to SCAN's MATCH.
        keys = sorted(
            k.decode()
            for match in (f"{bus}*", f"{{{bus}*")
            for k in client.scan_iter(match=match, count=1000)
        )
    finally:
        client.close()
    return [f"schema {row[0]}" for row in rows] + [f"key {key}" for key in keys]


def remove_prefix(found: Backends, prefix: str) -> list[str]:
    """Drop every schema and delete every key under `prefix`; return what was there."""
    there = left_behind(found, prefix)
    schemas = [item.split(" ", 1)[1] for item in there if item.startswith("schema ")]
    keys = [item.split(" ", 1)[1] for item in there if item.startswith("key ")]
    if schemas:
        with psycopg.connect(postgres_conninfo(found.database_url), autocommit=True) as conn:
            # A connection a test forgot would make DROP wait for ever: give up, and say so.
            conn.execute("SET lock_timeout = '20s'")
            for schema in schemas:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
    if keys:
        client = sync_redis.Redis.from_url(found.redis_url)
        try:
            for start in range(0, len(keys), 1000):
                client.unlink(*keys[start : start + 1000])
        finally:
            client.close()
    return there


@pytest.fixture(scope="session", autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    """At the end of the run, every prefix it used must be empty on PostgreSQL and Redis."""
    _RUN.prefixes = {}
    original = Database.__init__

    def opened(self: Database, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        prefix = (self.schema or "").removesuffix(self.service)
        if THROWAWAY_PREFIX.fullmatch(prefix):
            _RUN.used(prefix, f"a Database ({self.schema})")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Database, "__init__", opened)
        yield
    found, prefixes = _RUN.backends, _RUN.prefixes
    _RUN.prefixes = None
    if found is None:  # no test used the shared servers
        return
    leftovers = {
        prefix: (by, there)
        for prefix, by in sorted(prefixes.items())
        if (there := remove_prefix(found, prefix))
    }
    if leftovers:
        lines = [f"{p} ({by}): {', '.join(there)}" for p, (by, there) in leftovers.items()]
        pytest.fail(
            "this run left schemas or Redis keys behind (now removed):\n" + "\n".join(lines),
            pytrace=False,
        )


@pytest.fixture
def isolation(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh prefix for this test's schemas and Redis keys, all removed when it ends."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    _RUN.used(prefix, request.node.nodeid)
    yield prefix
    if _RUN.backends is not None:
        remove_prefix(_RUN.backends, prefix)


@pytest.fixture
def redis_url(backends: Backends) -> str:
    """The bus under test; modules may override this to run against other servers."""
    return backends.redis_url


@pytest.fixture
async def redis(redis_url: str, isolation: str) -> AsyncIterator[Redis]:
    """A client of the bus under test; `isolation` removes the test's keys afterwards."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def _service_db(backends: Backends, isolation: str, name: str) -> AsyncIterator[Database]:
    db = Database(backends.database_url, name, schema_prefix=isolation, pool_size=5)
    await migrate(db, ACCESS_MIGRATIONS if name == "access" else load_service(name).migrations)
    yield db
    await db.drop_schema()
    await db.dispose()


@pytest.fixture
async def content_db(backends: Backends, isolation: str) -> AsyncIterator[Database]:
    async for db in _service_db(backends, isolation, "content"):
        yield db


@pytest.fixture
async def scheduler_db(backends: Backends, isolation: str) -> AsyncIterator[Database]:
    async for db in _service_db(backends, isolation, "scheduler"):
        yield db


@pytest.fixture
async def access_db(backends: Backends, isolation: str) -> AsyncIterator[Database]:
    async for db in _service_db(backends, isolation, "access"):
        yield db


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Fresh identifier keys and lesson-link secret in the environment, as ops would set."""
    values = {**generate_keys(), "LESSON_LINK_SECRET": uuid.uuid4().hex + uuid.uuid4().hex}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def app_settings(
    backends: Backends, isolation: str, redis_url: str, secrets_env: dict[str, str]
) -> Settings:
    """Settings of an app under test: its own schemas and keys; tokens re-checked each time."""
    return Settings(
        database=DatabaseSettings(
            database_url=backends.database_url,
            database_schema_prefix=isolation,
            database_pool_warm=2,  # the warm-up runs, without filling pools test after test
        ),
        bus=BusSettings(redis_url=redis_url, bus_prefix=isolation.rstrip("_")),
        access=AccessSettings(token_cache_seconds=0),
        # One pytest process builds hundreds of apps: frozen, their cycles would never go.
        service=ServiceSettings(gc_freeze=False),
    )


def build_service_app(name: str, settings: Settings) -> Litestar:
    """The app builds its own engines and Redis client in its lifespan, as in production."""
    module = importlib.import_module(f"services.{name}.app")
    app: Litestar = module.create_app(settings=settings)
    return app


TokenFactory = Callable[..., Awaitable[str]]


@pytest.fixture
def make_token(access_db: Database) -> TokenFactory:
    async def make(
        role: Role | str, clinics: Sequence[str] = (), expires_days: int | None = 90
    ) -> str:
        issued = await issue_token(
            access_db, Role(role), clinics=clinics, expires_days=expires_days
        )
        return issued.token

    return make


@pytest.fixture
def content() -> ServiceDefinition:
    return load_service("content")


@pytest.fixture
def scheduler() -> ServiceDefinition:
    return load_service("scheduler")


async def drop_schemas(database_url: str, prefix: str) -> None:
    """Remove the schemas a test's processes created under its prefix."""
    for name in ("access", "content", "scheduler", "feedback"):
        db = Database(database_url, name, schema_prefix=prefix)
        await db.drop_schema()
        await db.dispose()


@pytest.fixture
def private_redis_url() -> Iterator[str]:
    """A redis-server of this test's own, for tests that wipe or stop Redis."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("this test needs redis-server on PATH (.ci/run installs it)")
    port = free_port()
    process = subprocess.Popen(private_redis_argv(server, port), stdout=subprocess.DEVNULL)
    wait_for_port(port, 10)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)
