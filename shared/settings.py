"""Settings from the environment, one class per concern, loaded once per process.

Every field is listed in the README's configuration table; keep the two in step.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

ServiceName = Literal["content", "scheduler", "feedback"]
SERVICES: tuple[ServiceName, ...] = ("content", "scheduler", "feedback")

_COMMON = SettingsConfigDict(env_file=None, env_ignore_empty=True, extra="ignore", frozen=True)


# The drivers the suite is tested and tuned on, by the URL schemes accepted for them. A bare
# `postgresql://` would otherwise get whichever async driver SQLAlchemy finds installed
# (psycopg with the dev dependencies), on which the suite silently runs untested.
DATABASE_DRIVERS: dict[str, str] = {
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "sqlite": "sqlite+aiosqlite",
}
DATABASE_URL_FORMS = (
    "postgresql+asyncpg://, postgresql:// or postgres:// (all run on asyncpg), "
    "sqlite+aiosqlite:///path or sqlite:///path (on aiosqlite)"
)


def normalise_database_url(url: str) -> str:
    """The URL with the suite's driver named: bare PostgreSQL and SQLite forms are mapped
    to asyncpg and aiosqlite; any other scheme is refused (ValueError naming the accepted
    forms, never the URL itself: it may hold a password)."""
    scheme, sep, rest = url.strip().partition("://")
    driver = DATABASE_DRIVERS.get(scheme.lower()) if sep else None
    if driver is None:
        shown = f"{scheme}://" if sep else "a URL without a scheme"
        raise ValueError(f"{shown} is not supported; use {DATABASE_URL_FORMS}")
    return f"{driver}://{rest}"


def database_driver_note(given: str) -> str | None:
    """What the suite made of a bare DATABASE_URL scheme (for `mmt doctor`), else None."""
    scheme = given.strip().partition("://")[0]
    driver = DATABASE_DRIVERS.get(scheme.lower())
    if driver is None or driver == scheme:
        return None
    return f"{scheme}:// runs on {driver}://, the driver the suite is tested on"


class DatabaseSettings(BaseSettings):
    """Where each service keeps its tables."""

    model_config = _COMMON

    database_url: str = Field(
        default="sqlite+aiosqlite:///./var/mmt.db",
        description=(
            "SQLAlchemy URL. PostgreSQL in production (postgresql+asyncpg://, postgresql:// "
            "or postgres://, all run on asyncpg): one schema per service. SQLite "
            "(sqlite+aiosqlite:// or sqlite://, the embedded default): one file per service "
            "beside the named file, e.g. ./var/mmt.content.db. Other schemes are refused."
        ),
    )
    database_schema_prefix: str = Field(
        default="",
        description="Prefix for each service's schema name (PostgreSQL), e.g. for tests.",
    )
    database_pool_size: int = Field(default=10, ge=1, description="Connections per process.")
    database_pool_warm: int = Field(
        default=4,
        ge=0,
        description=(
            "Connections an API process opens per pool at start-up, before it serves "
            "(at most DATABASE_POOL_SIZE; 0: only on demand). A cold pool under a sudden "
            "load opens connections in a cascade: docs/benchmarks.md."
        ),
    )
    database_echo: bool = Field(default=False, description="Log SQL (never in production).")
    database_pgbouncer: bool = Field(
        default=False,
        description=(
            "DATABASE_URL points at PgBouncer in transaction mode: no prepared statement "
            "outlives its statement, and every statement runs inside a transaction."
        ),
    )

    @field_validator("database_url")
    @classmethod
    def _suite_driver(cls, url: str) -> str:
        try:
            return normalise_database_url(url)
        except ValueError as exc:
            # A custom error: its message is exactly ours, and callers print only that.
            raise PydanticCustomError("database_url_scheme", str(exc)) from None


class BusSettings(BaseSettings):
    """The Redis Streams bus."""

    model_config = _COMMON

    redis_url: str | None = Field(
        default=None,
        description=(
            "redis://host:port/db. Required by the services; `mmt up` starts a private "
            "Redis when it is unset."
        ),
    )
    bus_prefix: str = Field(default="mmt", description="Prefix of every Redis key the bus uses.")
    bus_consumer_name: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        description="Stable consumer name within a group; host-pid by default.",
    )
    bus_batch_size: int = Field(default=200, ge=1, description="Entries read per XREADGROUP.")
    bus_block_ms: int = Field(default=1000, ge=1, description="How long a read blocks.")
    bus_concurrency: int = Field(
        default=16,
        ge=1,
        le=512,
        description="Entries of a read batch a worker handles at once (each in its own "
        "transaction); keep it within the database pool (DATABASE_POOL_SIZE x 2).",
    )
    bus_claim_idle_ms: int = Field(
        default=30_000,
        ge=1,
        description="A pending entry idle this long is reclaimed from its (dead) consumer.",
    )
    bus_max_deliveries: int = Field(
        default=5, ge=1, description="Deliveries before an entry goes to the dead-letter stream."
    )
    bus_stream_maxlen: int = Field(
        default=2_000_000,
        ge=1000,
        description="Hard cap on a stream's length; normal trimming never passes pending entries.",
    )
    outbox_interval_s: float = Field(
        default=0.25, gt=0, description="How often the outbox relay looks for new rows."
    )
    outbox_replay_window_s: int = Field(
        default=86_400,
        ge=60,
        description=(
            "Published outbox rows are kept this long; if Redis loses its data they are "
            "published again (consumers de-duplicate)."
        ),
    )


class ServiceSettings(BaseSettings):
    """How each service's HTTP API and worker run."""

    model_config = _COMMON

    service_host: str = Field(default="127.0.0.1", description="Interface the APIs listen on.")
    content_port: int = Field(default=8001, description="Content service HTTP port.")
    scheduler_port: int = Field(default=8002, description="Scheduler service HTTP port.")
    feedback_port: int = Field(default=8003, description="Feedback service HTTP port.")
    ready_timeout_s: float = Field(
        default=2.0, gt=0, description="Per-dependency timeout of the /ready check."
    )
    gc_freeze: bool = Field(
        default=True,
        description=(
            "Once started, an API or worker process freezes what it holds (gc.freeze) so "
            "the garbage collector's full passes skip it: each such pass stalled every "
            "request in flight for 100-150 ms. Tests that build many apps in one process "
            "turn it off."
        ),
    )
    api_processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description=(
            "Processes `mmt serve` runs for one API, all on its port (uvicorn's workers). "
            "One Python process uses one core; each has its own database pools."
        ),
    )
    prometheus_multiproc_dir: str | None = Field(
        default=None,
        description=(
            "With API_PROCESSES > 1: the directory where the processes share their "
            "Prometheus metrics, emptied at start; unset: a fresh temporary one."
        ),
    )
    worker_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port a worker serves Prometheus /metrics on; 0 turns it off.",
    )
    worker_heartbeat_dir: str = Field(
        default="./var/run", description="Where workers touch a heartbeat file for health checks."
    )

    def port(self, service: ServiceName) -> int:
        ports: dict[ServiceName, int] = {
            "content": self.content_port,
            "scheduler": self.scheduler_port,
            "feedback": self.feedback_port,
        }
        return ports[service]

    def heartbeat_file(self, service: str) -> Path:
        """The file a service's worker touches while it runs (`mmt healthcheck worker`)."""
        return Path(self.worker_heartbeat_dir) / f"{service}-worker.alive"


class AccessSettings(BaseSettings):
    """Coordinator access: tokens and request limits."""

    model_config = _COMMON

    token_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a process trusts a verified token; a revocation takes effect "
        "everywhere within this time.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Request bodies larger than this get 413."
    )


class LogSettings(BaseSettings):
    """Logging. Health data never reaches a log: a redaction step runs on every record."""

    model_config = _COMMON

    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["json", "console"] = Field(
        default="json", description="json (one object a line) or console (for people)."
    )


class Settings:
    """All concerns together; build with `get_settings()` so each process reads them once."""

    def __init__(
        self,
        *,
        database: DatabaseSettings | None = None,
        bus: BusSettings | None = None,
        service: ServiceSettings | None = None,
        log: LogSettings | None = None,
        access: AccessSettings | None = None,
    ) -> None:
        # Anything not given is read from the environment; tests pass what they isolate.
        self.database = database or DatabaseSettings()
        self.bus = bus or BusSettings()
        self.service = service or ServiceSettings()
        self.log = log or LogSettings()
        self.access = access or AccessSettings()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (
    DatabaseSettings,
    BusSettings,
    ServiceSettings,
    AccessSettings,
    LogSettings,
)
