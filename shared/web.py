"""The parts every service's HTTP app shares: health, readiness, metrics, OpenAPI, errors."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar, Request, Response, Router, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ControllerRouterHandler
from redis.asyncio import Redis
from sqlalchemy.exc import DBAPIError

from shared.access.tokens import TokenVerifier
from shared.access.web import OPEN, AuditMiddleware, auth_middleware, check_policies, enforce_policy
from shared.bus.connect import connect_redis
from shared.db import Database
from shared.diagnostics import BusProbeController
from shared.errors import DomainError
from shared.heap import freeze_startup_heap
from shared.logging import configure_logging, get_logger
from shared.openapi_errors import document_error_responses
from shared.openapi_schemas import MsgspecStructSchemaPlugin
from shared.provider_webhook import OWN_METRICS
from shared.service import ServiceDefinition
from shared.settings import Settings, get_settings
from shared.web_input import check_request

log = get_logger(__name__)

API_PREFIX = "/api/v1"


@get("/health", summary="Alive: the process answers", tags=["ops"], sync_to_thread=False, opt=OPEN)
def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", summary="Ready: database and Redis answer", tags=["ops"], opt=OPEN)
async def ready(state: State) -> Response[dict[str, Any]]:
    settings: Settings = state.settings
    timeout = settings.service.ready_timeout_s
    checks: dict[str, str] = {}
    try:
        await state.db.ping(timeout)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready"; say which kind
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        async with asyncio.timeout(timeout):
            await state.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unavailable: {type(exc).__name__}"
    ok = all(value == "ok" for value in checks.values())
    body = {"status": "ready" if ok else "not ready", "checks": checks}
    return Response(body, status_code=200 if ok else HTTP_503_SERVICE_UNAVAILABLE)


_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused, reset, aborted
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,  # SQLSTATE 08: the connection failed
    asyncpg.exceptions.OperatorInterventionError,  # 57P: shutting down, cannot connect now
    asyncpg.exceptions.InterfaceError,  # the connection was closed under us
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database could not be reached, rather than a wrong query."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    seen: BaseException | None = exc
    for _ in range(5):  # SQLAlchemy's error wraps the driver's, which may wrap the socket's
        if seen is None:
            return False
        if isinstance(seen, _CONNECTION_ERRORS):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def _log_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if isinstance(exc, DomainError):
        return Response(
            {"status_code": exc.status_code, "detail": str(exc)}, status_code=exc.status_code
        )
    if isinstance(exc, HTTPException):
        return Response(
            {
                "status_code": exc.status_code,
                "detail": exc.detail,
                **({"extra": exc.extra} if exc.extra else {}),
            },
            status_code=exc.status_code,
            headers=exc.headers,
        )
    if database_unavailable(exc):
        # PostgreSQL restarting or unreachable: a retryable condition, not a bug. Providers
        # retry a 503 (Twilio's callbacks, WeChat's pushes); clients are told to.
        log.warning("http.database_unavailable", path=request.url.path, error=type(exc).__name__)
        return Response(
            {"status_code": 503, "detail": "database unavailable: try again shortly"},
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    # The path and error type only: request bodies may carry health data.
    # Where, not what: exception messages (SQL parameters above all) may carry health data.
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/services/" in f.filename or "/shared/" in f.filename]
    where = [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in (ours or frames)[-4:]]
    log.error("http.unhandled", path=request.url.path, error=type(exc).__name__, where=where)
    return Response(
        {"status_code": 500, "detail": "Internal server error"},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )


async def _warm_pools(db: Database, access_db: Database, settings: Settings) -> None:
    """Fill the database pools before serving (Database.warm says why). Not fatal: an API
    whose database is down at start still starts, says so on /ready and connects later."""
    wanted = settings.database.database_pool_warm
    try:
        async with asyncio.timeout(settings.service.ready_timeout_s * 5):
            await asyncio.gather(db.warm(wanted), access_db.warm(wanted))
    except Exception as exc:  # connections then open on demand, as without warming
        log.warning("database_pool_warm_failed", error=type(exc).__name__)


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False
    opt = OPEN


def build_app(
    definition: ServiceDefinition,
    *,
    title: str,
    description: str,
    api_handlers: Sequence[ControllerRouterHandler] = (),
    root_handlers: Sequence[ControllerRouterHandler] = (),
    extra_state: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
    db: Database | None = None,
    redis: Redis | None = None,
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
) -> Litestar:
    """One service's app; pass `db` / `redis` to share or fake them, else built at start-up.
    `on_shutdown`: what the app's own parts close (HTTP pools), before its Redis and DB."""
    settings = settings or get_settings()
    configure_logging(definition.name, settings.log.log_level, settings.log.log_format)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        own_db = db is None
        own_redis = redis is None
        app.state.db = db or Database.from_settings(settings.database, definition.name)
        app.state.access_db = Database.from_settings(settings.database, "access")
        app.state.token_verifier = TokenVerifier(
            app.state.access_db, settings.access.token_cache_seconds
        )
        if redis is not None:
            app.state.redis = redis
        elif settings.bus.redis_url:
            app.state.redis = connect_redis(settings.bus.redis_url)
        else:
            raise RuntimeError("REDIS_URL is not set: the services need the bus")
        await _warm_pools(app.state.db, app.state.access_db, settings)
        if settings.service.gc_freeze:
            freeze_startup_heap()
        try:
            yield
        finally:
            for close in on_shutdown:
                await close()
            if own_redis:
                await app.state.redis.aclose()
            if own_db:
                await app.state.db.dispose()
            await app.state.access_db.dispose()

    api = Router(path=API_PREFIX, route_handlers=[BusProbeController, *api_handlers])
    prometheus = PrometheusConfig(
        app_name=f"mmt_{definition.name}",
        group_path=True,
        exclude=["/metrics", "/health", "/ready"],
        exclude_opt_key=OWN_METRICS,  # the lean provider webhooks count themselves
    )
    app = Litestar(
        route_handlers=[health, ready, MetricsController, api, *root_handlers],
        lifespan=[lifespan],
        # Order matters: metrics see everything, then who you are, then the audit of it.
        middleware=[prometheus.middleware, auth_middleware(), AuditMiddleware],
        guards=[enforce_policy],
        before_request=check_request,
        plugins=[MsgspecStructSchemaPlugin()],
        state=State(
            {
                "settings": settings,
                "definition": definition,
                "probe_model": definition.probe_model,
                **(extra_state or {}),
            }
        ),
        openapi_config=OpenAPIConfig(
            title=title,
            version="1",
            description=description,
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        exception_handlers={Exception: _log_unexpected},
        # Our structlog set-up owns logging (with redaction); Litestar's own config would
        # install a second, unredacted handler.
        logging_config=None,
        request_max_body_size=settings.access.max_body_bytes,
    )
    check_policies(app)
    document_error_responses(app)
    return app
