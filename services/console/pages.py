"""The console's pages: thin handlers over services/console/auth.py and the API client."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from services.console.api_client import ApiNotFound, Clinic
from services.console.auth import SESSION_COOKIE, Console, NotSignedIn
from services.console.i18n import LANGUAGES, current_language
from services.console.kept_forms import KEPT_COOKIE, KeptForm, KeptForms, worth_keeping
from services.console.sessions import SessionData
from services.console.settings import ConsoleSettings
from services.console.throttle import SignInThrottle
from services.console.today import dosed_time, load_today
from shared.access.staff import SignInRefused
from shared.params import RowId

Req = Request[Any, Any, Any]
LANGUAGE_COOKIE = "console_lang"


class SignInForm(msgspec.Struct):
    login: str = ""
    password: str = ""
    next: str = "/"


class LanguageForm(msgspec.Struct):
    lang: str = ""
    next: str = "/"


def page(request: Req, name: str, status_code: int = 200, **context: Any) -> Template:
    """A template with what every page shows: the language, the person, the path."""
    return Template(
        template_name=name,
        status_code=status_code,
        context={
            "lang": current_language.get(),
            "languages": LANGUAGES,
            "path": request.url.path,
            "session": request.scope.get("console_session"),
            "dosed_time": dosed_time,
            "zone": ZoneInfo,
            **context,
        },
    )


def console_of(request: Req) -> Console:
    console: Console = request.app.state.console
    return console


def _settings(request: Req) -> ConsoleSettings:
    settings: ConsoleSettings = request.app.state.console_settings
    return settings


def _cookie(request: Req, key: str, value: str, max_age: int | None) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        path="/",
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=_settings(request).console_secure_cookies,
    )


async def signed_in(request: Req) -> SessionData:
    """The live session, or NotSignedIn (the app sends the person to sign in); a form
    posted after the session ended is kept for its person first (kept_forms.py)."""
    try:
        data = await console_of(request).current(request.cookies.get(SESSION_COOKIE))
    except NotSignedIn as ended:
        if request.method == "POST":
            await _keep_form(request, ended)
        raise
    request.scope["console_session"] = data  # type: ignore[typeddict-unknown-key]
    return data


def kept_forms(request: Req) -> KeptForms:
    sessions = console_of(request).sessions
    return KeptForms(sessions.redis, sessions.prefix)


async def _keep_form(request: Req, ended: NotSignedIn) -> None:
    form = await request.form()
    posted = {key: value for key, value in form.items() if isinstance(value, str)}
    shown_on = worth_keeping(request.url.path, posted)
    if shown_on is None:
        return
    if ended.staff_id is None:  # whose it was is unknown: it cannot be given back safely
        ended.lost = True
        return
    ended.kept = await kept_forms(request).keep(ended.staff_id, request.url.path, shown_on, posted)
    ended.page = shown_on


async def restored_form(request: Req, data: SessionData) -> KeptForm | None:
    """What this person typed into a form of this page before their session ended, once."""
    kept_id = request.cookies.get(KEPT_COOKIE)
    return await kept_forms(request).take(kept_id, data.staff_id, request.url.path)


def restored_followup(kept: KeptForm | None) -> dict[str, Any] | None:
    """A kept follow-up note on an alert, as the alert's form shows it typed."""
    if kept is None or not kept.action.endswith("/followups"):
        return None
    alert_id = int(kept.action.split("/")[-2])
    return {"alert_id": alert_id, **kept.fields}


def client_address(request: Req) -> str:
    """The socket's peer, as the ASGI server reports it (services/console/throttle.py)."""
    return request.client.host if request.client else "unknown"


def _throttle(request: Req) -> SignInThrottle:
    console, settings = console_of(request), _settings(request)
    return SignInThrottle(
        console.sessions.redis,
        console.sessions.prefix,
        console.clock,
        settings.console_signin_failures_per_address,
        timedelta(minutes=settings.console_signin_window_minutes),
    )


def clinic_of(data: SessionData, clinic_id: int) -> Clinic:
    """The clinic if this person may see it; 404 before any API call names it."""
    clinic = data.clinic(clinic_id)
    if clinic is None:
        raise NotFoundException("no such clinic")
    return clinic


def _safe_next(target: str) -> str:
    # Only a path of this site: never an open redirect to another host ("//host" and
    # "/\\host" are other hosts to a browser).
    local = target.startswith("/") and not target.startswith(("//", "/\\"))
    return target if local else "/"


async def board_or_today(request: Req, token: str, clinic: Clinic) -> Response[Any]:
    """After a change: htmx swaps the board in place; without script, back to the page."""
    if request.headers.get("hx-request"):
        console = console_of(request)
        view = await load_today(console.api, token, clinic, console.clock())
        return page(request, "_board.html", view=view)
    return Redirect(f"/clinics/{clinic.id}/today", status_code=303)


class Pages(Controller):
    @get("/signin")
    async def signin_page(
        self,
        request: Req,
        next: FromQuery[str] = "/",
        expired: FromQuery[bool] = False,
        kept: FromQuery[bool] = False,
        lost: FromQuery[bool] = False,
    ) -> Template:
        return page(
            request,
            "signin.html",
            login="",
            error=None,
            next=_safe_next(next),
            expired=expired,
            kept=kept,
            lost=lost,
        )

    @post("/signin", status_code=303)
    async def sign_in(self, request: Req, data: URLEncodedBody[SignInForm]) -> Response[Any]:
        throttle, address = _throttle(request), client_address(request)
        wait = await throttle.retry_after(address)
        if wait is not None:  # refused before any password is checked or account read
            response = page(
                request,
                "signin.html",
                status_code=429,
                login=data.login,
                error="throttled",
                wait_minutes=math.ceil(wait / 60),
                next=_safe_next(data.next),
            )
            response.headers["Retry-After"] = str(wait)
            return response
        try:
            session_id = await console_of(request).sign_in(data.login, data.password)
        except SignInRefused as refused:
            await throttle.failed(address)
            return page(
                request,
                "signin.html",
                status_code=400,
                login=data.login,
                error=refused.reason,
                locked_until=refused.locked_until,
                next=_safe_next(data.next),
            )
        lifetime = int(console_of(request).sessions.lifetimes.absolute.total_seconds())
        return Redirect(
            _safe_next(data.next),
            status_code=303,
            cookies=[_cookie(request, SESSION_COOKIE, session_id, lifetime)],
        )

    @post("/signout", status_code=303)
    async def sign_out(self, request: Req) -> Redirect:
        await console_of(request).sign_out(request.cookies.get(SESSION_COOKIE))
        return Redirect(
            "/signin", status_code=303, cookies=[_cookie(request, SESSION_COOKIE, "", 0)]
        )

    @post("/signout/everywhere", status_code=303)
    async def sign_out_everywhere(self, request: Req) -> Redirect:
        await console_of(request).sign_out_everywhere(request.cookies.get(SESSION_COOKIE))
        return Redirect(
            "/signin", status_code=303, cookies=[_cookie(request, SESSION_COOKIE, "", 0)]
        )

    @post("/language", status_code=303)
    async def language(self, request: Req, data: URLEncodedBody[LanguageForm]) -> Redirect:
        lang = data.lang if data.lang in LANGUAGES else "zh-CN"
        cookie = _cookie(request, LANGUAGE_COOKIE, lang, 365 * 86_400)
        return Redirect(_safe_next(data.next), status_code=303, cookies=[cookie])

    @get("/")
    async def home(self, request: Req) -> Response[Any]:
        data = await signed_in(request)
        if not data.clinics:
            return page(request, "no_clinics.html")
        return Redirect(f"/clinics/{data.clinics[0].id}/today", status_code=303)

    @get("/clinics/{clinic_id:int}/today")
    async def today(self, request: Req, clinic_id: RowId) -> Template:
        data = await signed_in(request)
        clinic = clinic_of(data, clinic_id)
        view = await load_today(
            console_of(request).api, data.token, clinic, console_of(request).clock()
        )
        if request.headers.get("hx-request"):
            return page(request, "_board.html", view=view)
        followup = restored_followup(await restored_form(request, data))
        return page(request, "today.html", view=view, followup=followup, restored=followup)

    @post("/clinics/{clinic_id:int}/patients/{patient_id:int}/dose", status_code=303)
    async def record_dose(self, request: Req, clinic_id: RowId, patient_id: RowId) -> Response[Any]:
        data = await signed_in(request)
        clinic = clinic_of(data, clinic_id)
        console = console_of(request)
        try:
            await console.api.record_dose(data.token, patient_id, console.clock())
        except ApiNotFound:
            raise NotFoundException("no such patient") from None
        return await board_or_today(request, data.token, clinic)

    @post("/clinics/{clinic_id:int}/alerts/{alert_id:int}/acknowledge", status_code=303)
    async def acknowledge_alert(
        self, request: Req, clinic_id: RowId, alert_id: RowId
    ) -> Response[Any]:
        data = await signed_in(request)
        clinic = clinic_of(data, clinic_id)
        console = console_of(request)
        try:
            await console.api.acknowledge_alert(data.token, alert_id)
        except ApiNotFound:
            raise NotFoundException("no such alert") from None
        return await board_or_today(request, data.token, clinic)

    @get("/health", sync_to_thread=False)
    def health(self) -> dict[str, str]:
        return {"status": "ok"}
