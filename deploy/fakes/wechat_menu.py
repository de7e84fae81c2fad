"""The fake WeChat's custom menu: `POST /cgi-bin/menu/create` checks a menu as WeChat does
(40016 button count, 40017 type, 40018 name length, 40019 click key length, 40023 sub-button
count, 40055 a view's URL) and keeps the last one published for `GET /_fake/menu`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from deploy.fakes.common import STATE, FakeState

MENU: web.AppKey[dict[str, Any]] = web.AppKey("menu")  # the last menu published
TokenCheck = Callable[[web.Request], web.Response | None]
CHECK_TOKEN: web.AppKey[TokenCheck] = web.AppKey("menu_token_check")  # the fake's own


def _err(errcode: int, errmsg: str) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg})


def _menu_problem(buttons: Any, top: bool) -> tuple[int, str] | None:
    """WeChat's checks of `/cgi-bin/menu/create`: 1-3 buttons (1-5 under one), names of at
    most 16 bytes (60 under one), a click's key of at most 128 bytes, a view's url."""
    most, name_bytes = (3, 16) if top else (5, 60)
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= most:
        return (40016, "invalid button size") if top else (40023, "invalid sub button size")
    for button in buttons:
        if not isinstance(button, dict):
            return 40017, "invalid button type"
        name = str(button.get("name", ""))
        if not name or len(name.encode()) > name_bytes:
            return 40018, "invalid button name size"
        if top and "sub_button" in button:
            problem = _menu_problem(button["sub_button"], top=False)
            if problem is not None:
                return problem
        elif button.get("type") == "click":
            key = str(button.get("key", ""))
            if not key or len(key.encode()) > 128:
                return 40019, "invalid button key size"
        elif button.get("type") == "view":
            if not str(button.get("url", "")).startswith(("http://", "https://")):
                return 40055, "invalid button url domain"
        else:
            return 40017, "invalid button type"
    return None


async def menu_create(request: web.Request) -> web.Response:
    """The account's custom menu, checked as WeChat checks it and kept for `/_fake/menu`."""
    state: FakeState[Any] = request.app[STATE]
    state.counters["requests"] += 1
    refused = request.app[CHECK_TOKEN](request)
    if refused is not None:
        return refused
    try:
        body = await request.json()
    except ValueError:
        return _err(40016, "invalid button size")
    problem = _menu_problem(body.get("button") if isinstance(body, dict) else None, top=True)
    if problem is not None:
        return _err(*problem)
    request.app[MENU] = body
    state.counters["menus"] += 1
    return web.json_response({"errcode": 0, "errmsg": "ok"})


async def published_menu(request: web.Request) -> web.Response:
    return web.json_response(request.app[MENU])


def reset(app: web.Application) -> None:
    app[MENU] = {}


def install(app: web.Application, check_token: TokenCheck) -> None:
    reset(app)
    app[CHECK_TOKEN] = check_token
    app.router.add_post("/cgi-bin/menu/create", menu_create)
    app.router.add_get("/_fake/menu", published_menu)
