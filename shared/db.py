"""One async SQLAlchemy engine per service, pointed at that service's own schema.

Every service declares its tables under a *logical* schema named after itself
("content", "scheduler", "feedback"). At run time that name is translated:
- PostgreSQL: to a real schema, optionally prefixed (tests give each run its own);
- SQLite: to no schema at all, because each service gets its own database file, so the
  services stay as separate as they are on PostgreSQL and never see each other's tables.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, event, text
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_

from shared.settings import DatabaseSettings, normalise_database_url

T = TypeVar("T")

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class Database:
    """The engine and session factory of one service."""

    def __init__(
        self,
        url: str,
        service: str,
        *,
        schema_prefix: str = "",
        pool_size: int = 10,
        echo: bool = False,
        pgbouncer: bool = False,
    ) -> None:
        self.service = service
        self.pgbouncer = pgbouncer
        # Settings normalise DATABASE_URL already; a URL given directly gets the same rule.
        self.url: URL = make_url(normalise_database_url(url))
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            self.url = self._service_file(self.url, service)
            self.schema: str | None = None
        else:
            if not _IDENTIFIER.fullmatch(f"{schema_prefix}{service}"):
                raise ValueError("DATABASE_SCHEMA_PREFIX may hold only a-z, 0-9 and _")
            self.schema = f"{schema_prefix}{service}"
        self.pool_size = pool_size
        self.engine: AsyncEngine = self._make_engine(pool_size, echo)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: DatabaseSettings, service: str) -> Database:
        return cls(
            settings.database_url,
            service,
            schema_prefix=settings.database_schema_prefix,
            pool_size=settings.database_pool_size,
            echo=settings.database_echo,
            pgbouncer=settings.database_pgbouncer,
        )

    @staticmethod
    def _service_file(url: URL, service: str) -> URL:
        database = url.database or ""
        if database in ("", ":memory:"):
            raise ValueError("SQLite needs a file path so that workers and the API share it")
        path = Path(database)
        service_path = path.with_name(f"{path.stem}.{service}{path.suffix or '.db'}")
        service_path.parent.mkdir(parents=True, exist_ok=True)
        return url.set(database=str(service_path))

    def _make_engine(self, pool_size: int, echo: bool) -> AsyncEngine:
        translate = {self.service: self.schema}
        if self.is_sqlite:
            # API and worker are separate processes on the same file: WAL lets readers
            # run beside one writer and busy_timeout makes writers queue, not fail.
            engine = create_async_engine(
                self.url,
                hide_parameters=True,
                echo=echo,
                poolclass=NullPool,
                connect_args={"timeout": 30},
            )

            @event.listens_for(engine.sync_engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.close()

        else:
            engine = create_async_engine(
                self.url,
                hide_parameters=True,
                echo=echo,
                pool_size=pool_size,
                max_overflow=pool_size,
                connect_args=PGBOUNCER_CONNECT_ARGS if self.pgbouncer else {},
            )
            event.listen(engine.sync_engine, "checkout", _ping_on_checkout)
        # Disposing must reach the real pool; the schema-translating proxy shares it.
        self._base_engine = engine
        return engine.execution_options(schema_translate_map=translate)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection outside any explicit transaction: each statement is its own.

        For read-only Core selects (each sees what was committed when it began, as under
        READ COMMITTED, so nothing is lost) and for single-statement writes; it saves a
        BEGIN and a ROLLBACK or COMMIT round trip each, and the ORM's session and identity
        map (the coordinator reads and the audit log: docs/benchmarks.md).
        """
        async with self.engine.connect() as conn:
            if self.pgbouncer:
                # Behind PgBouncer's transaction mode a statement outside a transaction may
                # be parsed on one server connection and executed on another: pay the
                # BEGIN and COMMIT instead.
                async with conn.begin():
                    yield conn
            else:
                yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def warm(self, connections: int) -> int:
        """Open up to `connections` of the pool's connections now, at once, and keep them.

        A pool otherwise fills on demand, and a sudden load on a fresh process makes each
        request that finds no idle connection open one (connect, authenticate, SQLAlchemy's
        codec set-up: tens of milliseconds under load); requests queue behind those, which
        opens more. Measured (`mmt bench api`, 500 req/s): an API started cold answered its
        first second with p99 220 ms while opening ~40 connections, every second after it
        with p99 ~5 ms. Returns how many were opened; SQLite has no pool to fill.
        """
        if self.is_sqlite or connections <= 0:
            return 0
        opening = [self.engine.connect() for _ in range(min(connections, self.pool_size))]
        try:
            results = await asyncio.gather(*(c.start() for c in opening), return_exceptions=True)
        finally:
            # Also when cancelled (a start-up timeout): what did open goes back to the pool.
            opened = [c for c in opening if c.sync_connection is not None]
            await asyncio.gather(*(c.close() for c in opened))  # returned, still open
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return len(opened)

    async def ping(self, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s), self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def create_schema(self) -> None:
        """Create this service's schema (PostgreSQL only; SQLite has a file per service)."""
        if self.schema is None:
            return
        async with self.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))

    async def drop_schema(self) -> None:
        """Remove everything this service owns (tests, and nothing else, call this)."""
        if self.schema is None:
            return
        async with self.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))

    async def dispose(self) -> None:
        await self._base_engine.dispose()


# PgBouncer in transaction mode hands each transaction whichever server connection is
# free, so a named prepared statement (asyncpg caches them per connection, SQLAlchemy too)
# may be missing on the next server or collide with another client's of the same name.
# Unnamed statements live only until the next one on their connection: asyncpg prepares
# and runs each statement unnamed within its transaction, and nothing accumulates on the
# servers. PgBouncer 1.21+ can track named statements (max_prepared_statements), but
# Debian 12 ships 1.18, and hosted platforms vary.
PGBOUNCER_CONNECT_ARGS: dict[str, Any] = {
    "statement_cache_size": 0,  # asyncpg's own cache
    "prepared_statement_cache_size": 0,  # SQLAlchemy's asyncpg adapter's cache
    "prepared_statement_name_func": lambda: "",  # "" is PostgreSQL's unnamed statement
}


def _ping_on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """SQLAlchemy's `pool_pre_ping`, in one round trip instead of three.

    A pooled connection is checked before each use, so one that died with a PostgreSQL
    restart is replaced instead of failing its request. The built-in check on asyncpg wraps
    its check in BEGIN and ROLLBACK (for pgbouncer's transaction mode, which we do not use),
    and cost a fifth of a coordinator read's CPU. As with the built-in one, a failed check
    makes the pool drop every connection opened before it and reconnect.
    """
    try:
        await_(dbapi_connection.driver_connection.execute("SELECT 1"))
    except Exception as exc:
        raise InvalidatePoolError(f"ping on checkout failed: {type(exc).__name__}") from exc


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC, in Python and in the database.

    SQLite has no timestamp type: SQLAlchemy stores text without the offset and hands back
    naive values. Converting to UTC on the way in and marking UTC on the way out makes both
    databases behave alike, so comparisons and arithmetic never mix naive and aware times.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given: every timestamp must carry its offset")
        try:
            return value.astimezone(UTC)
        except OverflowError:
            # Within hours of Python's range (a filter such as since=0001-01-01T00:00+01:00):
            # the nearest instant Python can hold compares the same way against real rows.
            edge = datetime.min if value.year == 1 else datetime.max
            return edge.replace(tzinfo=UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def using_database(
    settings: DatabaseSettings, owner: str, work: Callable[[Database], Awaitable[T]]
) -> T:
    """Run `work` with a Database of `owner`'s, disposed afterwards (CLI commands)."""
    db = Database.from_settings(settings, owner)
    try:
        return await work(db)
    finally:
        await db.dispose()
