"""The console's app: pages rendered on the server (Jinja2, htmx), CSRF on every form, the
session in Redis, and the services' APIs behind one pooled HTTP client."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Litestar, Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import ResponseHeader, State
from litestar.exceptions import (
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from redis.asyncio import Redis

from services.console.api_client import ApiError, ServicesClient, SessionRevoked
from services.console.assessments import AssessmentPages
from services.console.audit import AuditPage
from services.console.auth import SESSION_COOKIE, Console, NotSignedIn
from services.console.counter import CounterPages
from services.console.curriculum import CurriculumPages
from services.console.enrol import EnrolPage
from services.console.followups import FollowupPages
from services.console.handouts import HandoutPages
from services.console.i18n import chosen_language, current_language, install, load_catalogs
from services.console.kept_forms import KEEP_FOR, KEPT_COOKIE
from services.console.mi import MiPages
from services.console.needs import NeedPages
from services.console.needs_inbox import NeedsInbox
from services.console.pages import LANGUAGE_COOKIE, Pages, page
from services.console.patients import PatientPages
from services.console.reports import ReportPages
from services.console.sessions import Clock, Lifetimes, SessionStore, utc_now
from services.console.settings import ConsoleSettings
from services.console.struggling import StrugglingPage
from services.console.tasks import TaskPages
from services.console.training import TrainingPages
from shared.bus.connect import connect_redis
from shared.db import Database
from shared.logging import configure_logging, get_logger
from shared.settings import Settings, get_settings

log = get_logger(__name__)
HERE = Path(__file__).parent
CSRF_COOKIE = "console_csrf"
# Scripts and styles from this site only: a need's text that slipped past escaping still
# could not run. (htmx is told not to inject its inline indicator style: base.html.)
_HEADERS = [
    ResponseHeader(
        name="Content-Security-Policy",
        value="default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    ),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="no-referrer"),
    ResponseHeader(name="Cache-Control", value="no-store"),
]


def _templates() -> TemplateConfig[JinjaTemplateEngine]:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    install(env, load_catalogs())
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))


def _set_language(request: Request[Any, Any, Any]) -> None:
    current_language.set(chosen_language(request.cookies.get(LANGUAGE_COOKIE)))


async def _language_hook(request: Request[Any, Any, Any]) -> None:
    # Async on purpose: Litestar runs a sync hook in a worker thread, whose copy of the
    # context would take the language with it.
    _set_language(request)


def _to_sign_in(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """To sign-in, saying the session ended (if there was one) and coming back after it:
    to the page asked for, or after a form, to the page that shows what was typed in it
    (kept for the person: kept_forms.py), else to that clinic's Today page."""
    clinic_id = request.scope.get("path_params", {}).get("clinic_id")
    kept = exc.kept if isinstance(exc, NotSignedIn) else None
    lost = isinstance(exc, NotSignedIn) and exc.lost
    if request.method == "GET":
        back = request.url.path
    elif kept and isinstance(exc, NotSignedIn) and exc.page:
        back = exc.page  # the form's page, where what was typed comes back
    else:
        back = f"/clinics/{clinic_id}/today" if isinstance(clinic_id, int) else "/"
    query = {"next": back, **({"expired": "1"} if SESSION_COOKIE in request.cookies else {})}
    query |= {"kept": "1"} if kept else ({"lost": "1"} if lost else {})
    target = f"/signin?{urlencode(query)}"
    response: Response[Any] = Redirect(target, status_code=303)
    if request.headers.get("hx-request"):  # htmx follows a redirect in place: go whole-page
        response = Response(content=b"", status_code=200, headers={"HX-Redirect": target})
    response.delete_cookie(SESSION_COOKIE)
    if kept:
        settings: ConsoleSettings = request.app.state.console_settings
        response.set_cookie(
            KEPT_COOKIE,
            kept,
            max_age=int(KEEP_FOR.total_seconds()),
            path="/",
            httponly=True,
            samesite="strict",
            secure=settings.console_secure_cookies,
        )
    return response


def _not_found(request: Request[Any, Any, Any], _exc: Exception) -> Response[Any]:
    _set_language(request)
    return page(request, "error.html", status_code=404, problem="not_found")


def _refused(request: Request[Any, Any, Any], _exc: Exception) -> Response[Any]:
    # Almost always a form without a valid CSRF token (an old tab, a restart with a new
    # secret): the cookie is dropped so that reloading the page issues a fresh one.
    _set_language(request)
    response: Response[Any] = page(request, "error.html", status_code=403, problem="refused")
    response.delete_cookie(CSRF_COOKIE)
    return response


def _api_failed(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, SessionRevoked):
        return _to_sign_in(request, exc)
    log.warning(
        "console.api_failed", path_template=request.scope.get("path_template"), error=str(exc)
    )
    _set_language(request)
    return page(request, "error.html", status_code=502, problem="api")


def create_app(
    settings: Settings | None = None,
    console_settings: ConsoleSettings | None = None,
    access_db: Database | None = None,
    redis: Redis | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock = utc_now,
) -> Litestar:
    """`transport` lets tests put the services' apps (or a recorder) behind the client."""
    settings = settings or get_settings()
    config = console_settings or ConsoleSettings()
    configure_logging("console", settings.log.log_level, settings.log.log_format)
    # httpx logs every URL at INFO; console URLs name patients by id: not in our logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    secret = config.console_secret or secrets.token_urlsafe(32)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = access_db or Database.from_settings(settings.database, "access")
        if redis is None and not settings.bus.redis_url:
            raise RuntimeError("REDIS_URL is not set: the console keeps its sessions there")
        store_redis = redis or connect_redis(settings.bus.redis_url or "")
        http = httpx.AsyncClient(
            transport=transport,
            timeout=config.console_api_timeout_s,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        )
        lifetimes = Lifetimes(
            idle=timedelta(minutes=config.console_idle_minutes),
            absolute=timedelta(hours=config.console_absolute_hours),
        )
        app.state.console = Console(
            access_db=db,
            sessions=SessionStore(store_redis, settings.bus.bus_prefix, lifetimes, clock),
            api=ServicesClient(
                http,
                config.console_scheduler_base_url,
                config.console_feedback_base_url,
                config.console_content_base_url,
            ),
            clock=clock,
        )
        try:
            yield
        finally:
            await http.aclose()
            if redis is None:
                await store_redis.aclose()
            if access_db is None:
                await db.dispose()

    return Litestar(
        route_handlers=[
            Pages,
            NeedPages,
            PatientPages,
            EnrolPage,
            NeedsInbox,
            StrugglingPage,
            ReportPages,
            AuditPage,
            CounterPages,
            FollowupPages,
            CurriculumPages,
            AssessmentPages,
            HandoutPages,
            TaskPages,
            MiPages,
            TrainingPages,
            create_static_files_router(path="/static", directories=[HERE / "static"]),
        ],
        lifespan=[lifespan],
        template_config=_templates(),
        csrf_config=CSRFConfig(
            secret=secret,
            cookie_name=CSRF_COOKIE,
            cookie_httponly=True,
            cookie_samesite="strict",
            cookie_secure=config.console_secure_cookies,
        ),
        before_request=_language_hook,
        response_headers=_HEADERS,
        exception_handlers={
            NotSignedIn: _to_sign_in,
            NotFoundException: _not_found,
            # An id out of range in a path (/clinics/0/today) names nothing: the same page.
            ValidationException: _not_found,
            PermissionDeniedException: _refused,
            ApiError: _api_failed,
        },
        state=State({"console_settings": config}),
        logging_config=None,
        request_max_body_size=64 * 1024,
    )
