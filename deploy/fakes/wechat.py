"""A fake WeChat official-account API: tokens, template messages, subscription notices and
customer-service messages.

    python -m deploy.fakes.wechat --port 9102 [--app-id wx... --app-secret ...]
        [--token-ttl 7200] [--unfollowed o1,o2] [--window-closed o3] [--invalid o4]
        [--refusing o5] [--template-ids t1,t2]
        [--quota-exhausted] [--busy-rate 0.1] [--error-rate 0.1 --rate-limit-rate 0.1]
        [--server-url https://mmt.example.org/webhooks/wechat --server-token ...]

`GET /cgi-bin/token` issues a new token (the previous ones stay valid `grace_s`, as WeChat
keeps an old token for five minutes); `POST /_fake/expire-tokens` expires every token now.
`POST /cgi-bin/message/template/send`, `/cgi-bin/message/subscribe/bizsend` and
`/cgi-bin/message/custom/send` answer HTTP 200 with WeChat's errcodes: 40001 (unknown
token), 42001 (expired), 40003 (invalid openid, quoting it), 40037 (a template id not in
`template_ids`, when that is set), 43004 (not following), 43101 (a `refusing` openid
refused or cancelled the subscription notices), 45009 (daily quota), 45015
(customer-service window closed), 47003 (a keyword field breaking its type's rule), -1
(system busy). Keyword fields, `client_msg_id` and `GET /_fake/cards` (what patients were
shown): `wechat_notices.py`. The custom menu (`/cgi-bin/menu/create`, `GET /_fake/menu`):
`wechat_menu.py`. Chaos: HTTP 503 and 429 (as a gateway would).

`POST /_fake/inbound` with JSON `{"openid": "o...", "text": "1"}` (or `"event": "subscribe"`
and an optional `"event_key"`, e.g. `qrscene_bind:<code>` for a binding QR code) is a
follower writing to the account: the fake posts WeChat's plain-mode XML to the account's
server URL (`server_url`), signed with its Token (`server_token`: sha1 of the sorted token,
timestamp and nonce), and answers `{"status", "replies", "answer"}`: the server's HTTP
status, the text of its passive reply (which WeChat shows the follower) and its raw answer.
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from deploy.fakes import wechat_menu, wechat_notices
from deploy.fakes.common import (
    STATE,
    Chaos,
    FakeState,
    chaos_answer,
    chaos_from,
    forward_inbound,
    listed,
    new_app,
    parser,
    run,
)

TOKENS: web.AppKey[dict[str, float]] = web.AppKey("tokens")  # token -> expiry (monotonic)
CLIENT: web.AppKey[aiohttp.ClientSession] = web.AppKey("server_client")


@dataclass
class WeChatKnobs:
    app_id: str = "wx0000000000000000"
    app_secret: str = "fake-app-secret"  # noqa: S105 (a fake's test credential)
    token_ttl_s: int = 7200
    grace_s: float = 300.0
    unfollowed: set[str] = field(default_factory=set)  # 43004
    window_closed: set[str] = field(default_factory=set)  # 45015 on custom send
    invalid: set[str] = field(default_factory=set)  # 40003
    refusing: set[str] = field(default_factory=set)  # 43101 on subscription notices
    template_ids: set[str] = field(default_factory=set)  # others: 40037; empty: any id
    dedupe_s: float = 600.0  # how long WeChat remembers an openid's client_msg_id
    slow_answer_ms: float = 0.0  # answer a taken send this late (a lost answer)
    quota_exhausted: bool = False  # 45009
    busy_rate: float = 0.0  # errcode -1
    server_url: str | None = None  # the account's server URL (followers' messages)
    server_token: str | None = None  # the Token of the account's server configuration
    account_id: str = "gh_5a5a5a5a5a5a"  # the account's original id (ToUserName)
    chaos: Chaos = field(default_factory=Chaos)


def _err(errcode: int, errmsg: str) -> web.Response:
    rid = secrets.token_hex(4)
    return web.json_response({"errcode": errcode, "errmsg": f"{errmsg} rid: {rid}"})


async def _chaos(state: FakeState[WeChatKnobs]) -> web.Response | None:
    return await chaos_answer(
        state,
        lambda after: web.json_response(
            {"errcode": 45011, "errmsg": "api minute-quota reach limit"},
            status=429,
            headers={"Retry-After": str(after)},
        ),
        lambda: web.Response(status=503, text="<html>503 Service Unavailable</html>"),
    )


async def token(request: web.Request) -> web.Response:
    state: FakeState[WeChatKnobs] = request.app[STATE]
    knobs = state.knobs
    state.counters["token_requests"] += 1
    chaos = await _chaos(state)
    if chaos is not None:
        return chaos
    query = request.query
    if query.get("grant_type") != "client_credential":
        return _err(40002, "invalid grant_type")
    if query.get("appid") != knobs.app_id:
        return _err(40013, "invalid appid")
    if query.get("secret") != knobs.app_secret:
        return _err(40125, "invalid appsecret")
    tokens = request.app[TOKENS]
    now = time.monotonic()
    for old, expiry in tokens.items():  # the previous tokens live on a little while
        tokens[old] = min(expiry, now + knobs.grace_s)
    issued = secrets.token_urlsafe(96)
    tokens[issued] = now + knobs.token_ttl_s
    state.counters["tokens_issued"] += 1
    return web.json_response({"access_token": issued, "expires_in": knobs.token_ttl_s})


def _check_token(request: web.Request) -> web.Response | None:
    expiry = request.app[TOKENS].get(request.query.get("access_token", ""))
    if expiry is None:
        request.app[STATE].counters["bad_tokens"] += 1
        return _err(40001, "invalid credential, access_token is invalid or not latest")
    if expiry <= time.monotonic():
        request.app[STATE].counters["expired_tokens"] += 1
        return _err(42001, "access_token expired")
    return None


async def _common(request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
    state: FakeState[WeChatKnobs] = request.app[STATE]
    knobs = state.knobs
    state.counters["requests"] += 1
    chaos = await _chaos(state)
    if chaos is not None:
        return {}, chaos
    refused = _check_token(request)
    if refused is not None:
        return {}, refused
    try:
        body = await request.json()
    except ValueError:
        return {}, _err(47001, "data format error")
    openid = str(body.get("touser", ""))
    if not openid or openid in knobs.invalid:
        return body, _err(40003, f"invalid openid hint: [{openid}]")
    if openid in knobs.unfollowed:
        return body, _err(43004, "require subscribe")
    if knobs.quota_exhausted:
        return body, _err(45009, "reach max api daily quota limit")
    if knobs.busy_rate and random.random() < knobs.busy_rate:  # noqa: S311
        return body, _err(-1, "system error")
    return body, None


async def template_send(request: web.Request) -> web.Response:
    body, refused = await _common(request)
    if refused is not None:
        return refused
    return await wechat_notices.template_send(request, body)


async def subscribe_send(request: web.Request) -> web.Response:
    body, refused = await _common(request)
    if refused is not None:
        return refused
    return await wechat_notices.subscribe_send(request, body)


async def qrcode_create(request: web.Request) -> web.Response:
    """A temporary parametric QR code, as `/cgi-bin/qrcode/create` answers for QR_STR_SCENE."""
    state: FakeState[WeChatKnobs] = request.app[STATE]
    state.counters["requests"] += 1
    refused = _check_token(request)
    if refused is not None:
        return refused
    try:
        body = await request.json()
        scene = str(body["action_info"]["scene"]["scene_str"])
    except (ValueError, KeyError, TypeError):
        return _err(40053, "invalid action info")
    if body.get("action_name") != "QR_STR_SCENE" or not 1 <= len(scene) <= 64:
        return _err(40053, "invalid action info")
    state.counters["qrcodes"] += 1
    ticket = f"gQ{random.randint(10**20, 10**21)}"  # noqa: S311
    expires = int(body.get("expire_seconds", 60))
    return web.json_response(
        {
            "ticket": ticket,
            "expire_seconds": expires,
            "url": f"http://weixin.example/q/{ticket[-12:]}",
        }
    )


async def custom_send(request: web.Request) -> web.Response:
    state: FakeState[WeChatKnobs] = request.app[STATE]
    body, refused = await _common(request)
    if refused is not None:
        return refused
    openid = str(body["touser"])
    if openid in state.knobs.window_closed:
        return _err(45015, "response out of time limit or subscription is canceled")
    if body.get("msgtype") != "text" or not body.get("text", {}).get("content"):
        return _err(40008, "invalid message type")
    state.accepted[openid] += 1
    state.texts[openid].append(str(body["text"]["content"]))
    state.counters["custom_sent"] += 1
    return web.json_response({"errcode": 0, "errmsg": "ok"})


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def inbound_xml(account_id: str, openid: str, asked: dict[str, Any], now: int) -> str:
    """What WeChat posts for a follower's text message or event (plain mode)."""
    head = (
        f"<xml><ToUserName>{_cdata(account_id)}</ToUserName>"
        f"<FromUserName>{_cdata(openid)}</FromUserName><CreateTime>{now}</CreateTime>"
    )
    if asked.get("event"):
        key = str(asked.get("event_key", ""))
        return (
            f"{head}<MsgType><![CDATA[event]]></MsgType>"
            f"<Event>{_cdata(str(asked['event']))}</Event>"
            + (f"<EventKey>{_cdata(key)}</EventKey>" if key else "")
            + "</xml>"
        )
    msg_id = random.randint(10**18, 2**63 - 1)  # noqa: S311
    return (
        f"{head}<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(str(asked['text']))}</Content><MsgId>{msg_id}</MsgId></xml>"
    )


def passive_reply(answer: str) -> list[str]:
    """The text of a passive reply (a text message back), if the answer is one."""
    if not answer.strip():
        return []
    try:
        root = ElementTree.fromstring(answer)  # noqa: S314 (the answer of the service under test)
    except ElementTree.ParseError:
        return []
    content = root.findtext("Content")
    return [content] if root.findtext("MsgType") == "text" and content else []


async def inbound(request: web.Request) -> web.Response:
    """A follower's message to the account, delivered as WeChat delivers it."""
    state: FakeState[WeChatKnobs] = request.app[STATE]
    knobs = state.knobs
    if not knobs.server_url or not knobs.server_token:
        return web.json_response(
            {
                "error": "no server configuration: start the fake with --server-url and "
                "--server-token"
            },
            status=409,
        )
    try:
        asked = await request.json()
        openid = str(asked["openid"]).strip()
        if not (asked.get("event") or isinstance(asked.get("text"), str)):
            raise KeyError("text")
    except (ValueError, KeyError, TypeError, AttributeError):
        return web.json_response(
            {"error": 'send {"openid": "o...", "text": "..."} or {"openid", "event"}'},
            status=400,
        )
    now = int(time.time())
    timestamp, nonce = str(now), str(random.randint(10**8, 10**10))  # noqa: S311
    signature = hashlib.sha1(  # noqa: S324 (WeChat's algorithm)
        "".join(sorted((knobs.server_token, timestamp, nonce))).encode()
    ).hexdigest()
    query = urlencode({"signature": signature, "timestamp": timestamp, "nonce": nonce})
    url = knobs.server_url + ("&" if "?" in knobs.server_url else "?") + query
    body = inbound_xml(knobs.account_id, openid, asked, now)
    return await forward_inbound(
        request.app[CLIENT], state, url, body.encode(), {"Content-Type": "text/xml"}, passive_reply
    )


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    app[CLIENT] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    yield
    await app[CLIENT].close()


async def expire_tokens(request: web.Request) -> web.Response:
    tokens = request.app[TOKENS]
    for issued in tokens:
        tokens[issued] = 0.0
    return web.json_response({"expired": len(tokens)})


def create_app(knobs: WeChatKnobs) -> web.Application:
    state = FakeState.start(knobs)
    app = new_app(state)
    app[TOKENS] = {}
    wechat_notices.install(app)
    wechat_menu.install(app, _check_token)

    def reset_extra() -> None:
        app[TOKENS].clear()
        app[wechat_notices.SENT_IDS].clear()
        app[wechat_notices.CARDS].clear()
        wechat_menu.reset(app)

    state.on_reset = reset_extra
    app.router.add_get("/cgi-bin/token", token)
    app.router.add_post("/cgi-bin/message/template/send", template_send)
    app.router.add_post("/cgi-bin/message/subscribe/bizsend", subscribe_send)
    app.router.add_post("/cgi-bin/message/custom/send", custom_send)
    app.router.add_post("/cgi-bin/qrcode/create", qrcode_create)
    app.router.add_post("/_fake/expire-tokens", expire_tokens)
    app.router.add_post("/_fake/inbound", inbound)
    app.cleanup_ctx.append(_lifecycle)
    return app


def main(argv: list[str] | None = None) -> None:
    env = os.environ.get
    cli = parser("A fake WeChat official-account API.")
    cli.add_argument("--app-id", default=env("FAKE_WECHAT_APP_ID", WeChatKnobs.app_id))
    cli.add_argument("--app-secret", default=env("FAKE_WECHAT_APP_SECRET", WeChatKnobs.app_secret))
    cli.add_argument("--token-ttl", type=int, default=int(env("FAKE_WECHAT_TOKEN_TTL", "7200")))
    cli.add_argument("--unfollowed", default=env("FAKE_WECHAT_UNFOLLOWED", ""), help="43004")
    cli.add_argument("--window-closed", default=env("FAKE_WECHAT_WINDOW_CLOSED", ""), help="45015")
    cli.add_argument("--invalid", default=env("FAKE_WECHAT_INVALID", ""), help="40003")
    cli.add_argument("--refusing", default=env("FAKE_WECHAT_REFUSING", ""), help="43101")
    cli.add_argument(
        "--template-ids", default=env("FAKE_WECHAT_TEMPLATE_IDS", ""), help="others: 40037"
    )
    cli.add_argument(
        "--quota-exhausted",
        action="store_true",
        default=env("FAKE_WECHAT_QUOTA_EXHAUSTED", "") == "1",
    )
    cli.add_argument("--busy-rate", type=float, default=float(env("FAKE_WECHAT_BUSY_RATE", "0")))
    cli.add_argument(
        "--server-url",
        default=env("FAKE_WECHAT_SERVER_URL") or None,
        help="the account's server URL: followers' messages (POST /_fake/inbound) go there",
    )
    cli.add_argument(
        "--server-token",
        default=env("FAKE_WECHAT_SERVER_TOKEN") or None,
        help="the Token of the account's server configuration (signs those calls)",
    )
    cli.add_argument("--account-id", default=env("FAKE_WECHAT_ACCOUNT_ID", WeChatKnobs.account_id))
    args = cli.parse_args(argv)
    knobs = WeChatKnobs(
        app_id=args.app_id,
        app_secret=args.app_secret,
        token_ttl_s=args.token_ttl,
        unfollowed=listed(args.unfollowed),
        window_closed=listed(args.window_closed),
        invalid=listed(args.invalid),
        refusing=listed(args.refusing),
        template_ids=listed(args.template_ids),
        quota_exhausted=args.quota_exhausted,
        busy_rate=args.busy_rate,
        server_url=args.server_url,
        server_token=args.server_token,
        account_id=args.account_id,
        chaos=chaos_from(args),
    )
    run(create_app(knobs), args, "wechat")


if __name__ == "__main__":
    main()
