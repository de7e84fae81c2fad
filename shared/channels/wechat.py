"""WeChat official (service) account: template messages or subscription notices, and free
text inside the window.

Scheduled pushes go one of two ways, as the account is configured (`send_mode`): *template
messages* (category templates, 类目模板) or *long-term subscription notices* (订阅通知,
`/cgi-bin/message/subscribe/bizsend`), which WeChat opens to medical and public services
for repeated sends once the patient subscribed; 43101 there means the patient refused or
cancelled, a permanent failure of this way, and the dispatcher tries the next channel.
Either way a message kind maps to a template and its typed keyword fields, filled and
checked as WeChat checks them before anything is sent (`wechat_fields.py`). Free-text
*customer-service messages* are allowed only within 48 hours after the patient wrote to the
account, which the caller says with `OutboundMessage.reply_window_open`; when WeChat says
the window closed after all (45015), the message goes as a template or notice instead.

The access token is shared by every worker through Redis, and only one of them refreshes it,
behind a Redis lock (`SET NX PX`): each call to /cgi-bin/token issues a new token and counts
against a small daily quota, so workers refreshing on their own would churn through both.
A token WeChat calls invalid (40001/42001) is refreshed once (unless another worker already
did) and the call tried again.

Each process also remembers the token for up to a minute (`MEMO_S`), rather than asking
Redis before every send: that round trip made a WeChat send cost twice the CPU of an SMS
(`mmt bench channels`, docs/benchmarks.md). It is safe because a remembered token is still
valid at WeChat: the Redis copy expires `token_margin_s` (default 300 s) before WeChat's
own expiry and the memo never outlives that margin; a token another worker replaced stays
valid at WeChat for five minutes; and a token WeChat refuses all the same (40001) sends us
to Redis for the current one, as above.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from redis.asyncio import Redis

from shared.channels.base import (
    Capabilities,
    Delivery,
    FailureKind,
    OutboundMessage,
    SendFailed,
    SendResult,
)
from shared.channels.settings import WeChatTemplate
from shared.channels.support import (
    TRANSPORT_ERRORS,
    http_failure,
    new_session,
    retry_after_seconds,
    safe_reason,
    transport_failure,
)
from shared.channels.wechat_fields import keyword_values

TOKEN_INVALID = frozenset({40001, 40014, 42001})  # invalid, malformed, expired
NOT_FOLLOWING = 43004
SUBSCRIPTION_REFUSED = 43101  # the patient refused or cancelled the subscription notices
DAILY_QUOTA = 45009
MINUTE_QUOTA = 45011
WINDOW_CLOSED = frozenset({45015, 45047})  # past 48 hours / too many replies in the window
SYSTEM_BUSY = -1
QUOTA_RETRY_S = 3600.0  # the daily quota resets at midnight Beijing time; look again hourly
MEMO_S = 60.0  # how long a process uses a token without asking Redis again
TEMPLATE_SEND = "/cgi-bin/message/template/send"
SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/bizsend"
SendMode = Literal["template", "subscribe"]

# Compare-and-delete: only the lock's owner releases it (it may have expired and moved on).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class BindingQr:
    ticket: str  # shows the QR image; the patient scans it with WeChat
    url: str  # what the QR code encodes
    expires_in: int


@dataclass(frozen=True)
class WeChatConfig:
    app_id: str
    app_secret: str = field(repr=False)
    api_base_url: str = "https://api.weixin.qq.com"
    templates: Mapping[str, WeChatTemplate] = field(default_factory=dict)
    send_mode: SendMode = "template"  # template messages, or subscription notices
    token_margin_s: int = 300
    timeout_s: float = 10.0
    max_connections: int = 100
    key_prefix: str = "mmt"  # Redis keys: {prefix}:wechat:{app_id}:token[:lock]


class AccessTokens:
    """The account's access token, cached in Redis, refreshed by one worker at a time."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        fetch: Callable[[], Awaitable[tuple[str, int]]],
        *,
        margin_s: int = 300,
        lock_ttl_ms: int = 15_000,
        poll_s: float = 0.05,
        memo_s: float = MEMO_S,
    ) -> None:
        self._redis = redis
        self._key = key
        self._lock_key = f"{key}:lock"
        self._fetch = fetch  # -> (token, expires_in seconds)
        self._margin_s = margin_s
        self._lock_ttl_ms = lock_ttl_ms
        self._poll_s = poll_s
        # Held in the process no longer than the Redis copy's margin before WeChat's own
        # expiry, so a remembered token is never one WeChat has expired (module docstring).
        self._memo_s = max(0.0, min(memo_s, margin_s))
        self._memo: tuple[str, float] | None = None  # (token, time.monotonic() deadline)

    async def _cached(self) -> str | None:
        value = await self._redis.get(self._key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    def _remember(self, token: str) -> str:
        if self._memo_s:
            self._memo = (token, time.monotonic() + self._memo_s)
        return token

    async def get(self) -> str:
        memo = self._memo
        if memo is not None and time.monotonic() < memo[1]:
            return memo[0]
        cached = await self._cached()
        return self._remember(cached) if cached else await self.refresh(stale=None)

    async def refresh(self, stale: str | None) -> str:
        """A token other than `stale`: the cached one if another worker already replaced
        it, else a new one fetched under the lock. Waits for a refresh in progress."""
        self._memo = None
        deadline = time.monotonic() + self._lock_ttl_ms / 1000
        owner = uuid.uuid4().hex
        while True:
            current = await self._cached()
            if current is not None and current != stale:
                return self._remember(current)
            if await self._redis.set(self._lock_key, owner, nx=True, px=self._lock_ttl_ms):
                try:
                    current = await self._cached()  # refreshed between our look and the lock
                    if current is not None and current != stale:
                        return self._remember(current)
                    token, expires_in = await self._fetch()
                    ttl_s = max(expires_in - self._margin_s, 60)
                    await self._redis.set(self._key, token, px=ttl_s * 1000)
                    return self._remember(token)
                finally:
                    await self._redis.eval(_RELEASE, 1, self._lock_key, owner)
            if time.monotonic() > deadline:
                raise SendFailed(
                    FailureKind.RETRYABLE, "wechat: access token refresh takes too long"
                )
            await asyncio.sleep(self._poll_s)


class _WindowClosed(Exception):
    pass


class WeChatChannel:
    """The `wechat` channel over an official account's HTTP API."""

    def __init__(self, config: WeChatConfig, redis: Redis, code: str = "wechat") -> None:
        self.code = code
        self.config = config
        self.capabilities = Capabilities(templated=True, reply_window_hours=48)
        self._base = config.api_base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self.tokens = AccessTokens(
            redis,
            f"{config.key_prefix}:wechat:{config.app_id}:token",
            self._fetch_token,
            margin_s=config.token_margin_s,
        )

    def _http(self) -> aiohttp.ClientSession:
        # Made inside the event loop on first use; no await between check and assignment.
        if self._session is None:
            self._session = new_session(self.config.timeout_s, self.config.max_connections)
        return self._session

    async def send(self, message: OutboundMessage) -> SendResult:
        if message.reply_window_open:
            try:
                return await self._call("/cgi-bin/message/custom/send", _custom(message), message)
            except _WindowClosed:
                pass  # the window closed after all: a template may still go
        template = self.config.templates.get(message.kind)
        if template is None:
            raise SendFailed(
                FailureKind.PERMANENT,
                f"wechat: no template for {message.kind} messages (WECHAT_TEMPLATES)",
                code="no_template",
            )
        if self.config.send_mode == "subscribe":
            return await self._call(SUBSCRIBE_SEND, _subscription(message, template), message)
        return await self._call(TEMPLATE_SEND, _template(message, template), message)

    async def create_binding_qr(self, scene: str, expire_seconds: int) -> BindingQr:
        """A temporary parametric QR code: scanning it (or following through it) sends our
        server a subscribe/SCAN event carrying `scene`, which binds the patient's openid."""
        payload = {
            "expire_seconds": expire_seconds,
            "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}},
        }
        body = await self._account_call(
            "/cgi-bin/qrcode/create", payload, lambda answer: bool(answer.get("ticket")), scene
        )
        return BindingQr(
            str(body["ticket"]),
            str(body.get("url", "")),
            int(body.get("expire_seconds", expire_seconds)),
        )

    async def create_menu(self, menu: Mapping[str, Any]) -> None:
        """Publish the account's custom menu (`/cgi-bin/menu/create`), replacing the last;
        refused with WeChat's errcode and message (e.g. 40018: a button name too long)."""
        await self._account_call(
            "/cgi-bin/menu/create", dict(menu), lambda answer: _errcode(answer) == 0
        )

    async def _account_call(
        self,
        path: str,
        payload: dict[str, Any],
        succeeded: Callable[[dict[str, Any]], bool],
        *hidden: str,
    ) -> dict[str, Any]:
        """One call of the account's API, the token refreshed once if WeChat says it is
        stale; `SendFailed` (with `hidden` kept out of its reason) otherwise."""
        token = await self.tokens.get()
        for first_try in (True, False):
            status, body, retry_after = await self._post(path, token, payload)
            if status == 200 and _errcode(body) in TOKEN_INVALID and first_try:
                token = await self.tokens.refresh(stale=token)
                continue
            if status == 200 and succeeded(body):
                return body
            raise _failure(status, body, retry_after, *hidden)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call(
        self, path: str, payload: dict[str, Any], message: OutboundMessage
    ) -> SendResult:
        token = await self.tokens.get()
        for first_try in (True, False):
            status, body, retry_after = await self._post(path, token, payload)
            errcode = _errcode(body)
            if status == 200 and errcode in TOKEN_INVALID and first_try:
                token = await self.tokens.refresh(stale=token)
                continue
            if status == 200 and errcode == 0:
                msgid = body.get("msgid")
                return SendResult(Delivery.SENT, provider_id=str(msgid) if msgid else None)
            if status == 200 and errcode in WINDOW_CLOSED and "custom" in path:
                raise _WindowClosed
            raise _failure(status, body, retry_after, message.address)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(
        self, path: str, token: str, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any], str | None]:
        try:
            async with self._http().post(
                f"{self._base}{path}", params={"access_token": token}, json=payload
            ) as response:
                body = await _json(response)
                return response.status, body, response.headers.get("Retry-After")
        except TRANSPORT_ERRORS as exc:
            raise transport_failure("wechat", exc) from None

    async def _fetch_token(self) -> tuple[str, int]:
        params = {
            "grant_type": "client_credential",
            "appid": self.config.app_id,
            "secret": self.config.app_secret,
        }
        try:
            async with self._http().get(f"{self._base}/cgi-bin/token", params=params) as response:
                body = await _json(response)
                retry_after = response.headers.get("Retry-After")
                status = response.status
        except TRANSPORT_ERRORS as exc:
            raise transport_failure("wechat", exc) from None
        token = body.get("access_token")
        if status == 200 and isinstance(token, str) and token:
            return token, int(body.get("expires_in", 7200))
        failure = _failure(status, body, retry_after, self.config.app_secret, self.config.app_id)
        raise SendFailed(
            failure.kind,
            f"wechat access token: {failure.reason}",
            code=failure.code,
            retry_after_s=failure.retry_after_s,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _custom(message: OutboundMessage) -> dict[str, Any]:
    return {"touser": message.address, "msgtype": "text", "text": {"content": message.text}}


def _data(message: OutboundMessage, template: WeChatTemplate) -> dict[str, dict[str, str]]:
    return {name: {"value": value} for name, value in keyword_values(message, template).items()}


def _template(message: OutboundMessage, template: WeChatTemplate) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "touser": message.address,
        "template_id": template.template_id,
        "data": _data(message, template),
        # WeChat drops a second send with the same openid and client_msg_id (10 minutes),
        # so a retry after a lost answer does not push the reminder twice.
        "client_msg_id": message.message_id,
    }
    if url := message.fields.get("url"):
        payload["url"] = url
    return payload


def _subscription(message: OutboundMessage, template: WeChatTemplate) -> dict[str, Any]:
    # bizsend documents no client_msg_id: WeChat does not de-duplicate these notices.
    payload: dict[str, Any] = {
        "touser": message.address,
        "template_id": template.template_id,
        "data": _data(message, template),
    }
    if url := message.fields.get("url"):
        payload["page"] = url  # the web page the notice opens
    return payload


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        body = await response.json(content_type=None)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _errcode(body: Mapping[str, Any]) -> int | None:
    code = body.get("errcode", 0 if "access_token" in body else None)
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None


def _failure(
    status: int, body: Mapping[str, Any], retry_after: str | None, *hidden: str
) -> SendFailed:
    errcode = _errcode(body)
    errmsg = safe_reason(str(body.get("errmsg", "")), *hidden)
    if status != 200:
        reason = f"wechat: HTTP {status}" + (f" errcode {errcode}" if errcode is not None else "")
        return http_failure(status, reason, retry_after_s=retry_after_seconds(retry_after))
    if errcode is None:
        # Not WeChat's answer (a proxy's page?): whether it was sent is unknown, and a retry
        # is safe because WeChat drops a repeated client_msg_id.
        return SendFailed(FailureKind.RETRYABLE, "wechat: unreadable answer", code="unreadable")
    code = str(errcode)
    reason = f"wechat {code}: {errmsg}" if errmsg else f"wechat {code}"
    if errcode == NOT_FOLLOWING:
        return SendFailed(
            FailureKind.PERMANENT,
            f"wechat {code}: not following the official account",
            code=code,
        )
    if errcode == SUBSCRIPTION_REFUSED:
        return SendFailed(
            FailureKind.PERMANENT,
            f"wechat {code}: the patient refused or cancelled the subscription notices",
            code=code,
        )
    if errcode == DAILY_QUOTA:
        return SendFailed(FailureKind.RATE_LIMITED, reason, code=code, retry_after_s=QUOTA_RETRY_S)
    if errcode == MINUTE_QUOTA:
        return SendFailed(FailureKind.RATE_LIMITED, reason, code=code, retry_after_s=60.0)
    if errcode == SYSTEM_BUSY or errcode in TOKEN_INVALID:  # a token refreshed in vain: later
        return SendFailed(FailureKind.RETRYABLE, reason, code=code)
    return SendFailed(FailureKind.PERMANENT, reason, code=code)
