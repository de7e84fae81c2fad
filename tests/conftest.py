"""Fixtures shared by every tier.

Integration and end-to-end tests use the real PostgreSQL and Redis named by DATABASE_URL
and REDIS_URL (`.ci/run` sets both). When they are unset and a Docker engine exists,
testcontainers starts throwaway ones. Each test gets its own schema prefix and bus key
prefix and removes them afterwards, so tests never see each other's data.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass

import pytest
from litestar import Litestar
from redis.asyncio import Redis

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


@pytest.fixture(scope="session")
def backends() -> Backends:
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if database_url and redis_url:
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


@pytest.fixture
def isolation() -> str:
    """A fresh prefix for this test's schemas and Redis keys."""
    return f"t{uuid.uuid4().hex[:10]}_"


@pytest.fixture
def redis_url(backends: Backends) -> str:
    """The bus under test; modules may override this to run against other servers."""
    return backends.redis_url


@pytest.fixture
async def redis(redis_url: str, isolation: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{isolation}*", count=1000)]
    if keys:
        await client.delete(*keys)
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
    for name in ("content", "scheduler", "feedback"):
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
