"""A generic channel: each message POSTed as signed JSON to one configured URL.

For gateways we have no adapter for (a domestic SMS provider behind a clinic's own relay,
a test harness). The body is `{message_id, channel, address, text, kind, fields}`; the
headers `X-MMT-Timestamp: <unix seconds>` and `X-MMT-Signature: sha256=<hex>`, an
HMAC-SHA256 under WEBHOOK_SECRET of `<timestamp>.<body>`: signing the timestamp with the
body lets a receiver refuse replays of an old request (`verify_webhook_signature`).

Answers: 2xx with an empty or JSON body sent (a JSON `{"id": ...}` becomes the provider
id); a 2xx with any other body (a proxy's or captive portal's HTML page) is not the
receiver's answer: retried later, never counted as sent; 410 the recipient opted out; 429
and 5xx later (Retry-After honoured); any other 4xx permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from shared.channels.base import (
    Delivery,
    FailureKind,
    OutboundMessage,
    SendFailed,
    SendResult,
)
from shared.channels.support import (
    TRANSPORT_ERRORS,
    http_failure,
    new_session,
    retry_after_seconds,
    safe_reason,
    transport_failure,
)

SIGNATURE_HEADER = "X-MMT-Signature"
TIMESTAMP_HEADER = "X-MMT-Timestamp"


def sign_webhook(secret: str, timestamp: str, body: bytes) -> str:
    """The X-MMT-Signature value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_webhook_signature(
    secret: str,
    timestamp: str | None,
    body: bytes,
    signature: str | None,
    *,
    max_age_s: float = 300,
    now: float | None = None,
) -> bool:
    """For receivers: True when the signature is ours and the timestamp is recent."""
    if not timestamp or not signature:
        return False
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    if age > max_age_s:
        return False
    return hmac.compare_digest(sign_webhook(secret, timestamp, body), signature)


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    secret: str = field(repr=False)
    timeout_s: float = 10.0
    max_connections: int = 100


class WebhookChannel:
    """POSTs each message to WEBHOOK_URL; serves `webhook`, or `sms` with CHANNEL_SMS=webhook."""

    def __init__(
        self,
        config: WebhookConfig,
        code: str = "webhook",
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.code = code
        self.config = config
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Made inside the event loop on first use; no await between check and assignment.
        if self._session is None:
            self._session = new_session(self.config.timeout_s, self.config.max_connections)
        return self._session

    async def send(self, message: OutboundMessage) -> SendResult:
        body = json.dumps(
            {
                "message_id": message.message_id,
                "channel": self.code,
                "address": message.address,
                "text": message.text,
                "kind": message.kind,
                "fields": message.fields,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign_webhook(self.config.secret, timestamp, body),
        }
        try:
            async with self._http().post(self.config.url, data=body, headers=headers) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                answer = await response.text()
        except TRANSPORT_ERRORS as exc:
            raise transport_failure("webhook", exc) from None
        if 200 <= status < 300:
            provider_id = _provider_id(answer, message.message_id)
            if provider_id is None:
                # Whether the receiver got it is unknown; a retry risks a duplicate (it carries
                # the same message_id), silence risks a lost dose.
                raise SendFailed(
                    FailureKind.RETRYABLE, "webhook: unreadable answer", code="unreadable"
                )
            return SendResult(Delivery.SENT, provider_id=provider_id)
        detail = safe_reason(_error_text(answer), message.address)
        reason = f"webhook: HTTP {status}" + (f": {detail}" if detail else "")
        if status == 410:
            raise SendFailed(FailureKind.OPTED_OUT, f"{reason} (recipient opted out)", code="410")
        raise http_failure(status, reason, retry_after_s=retry_after_seconds(retry_after))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _provider_id(answer: str, fallback: str) -> str | None:
    """The receiver's id, `fallback` when it gives none, None when the body is not JSON."""
    if not answer.strip():
        return fallback
    try:
        parsed = json.loads(answer)
    except ValueError:
        return None
    found = parsed.get("id") if isinstance(parsed, dict) else None
    return str(found) if found else fallback


def _error_text(answer: str) -> str:
    # Receivers are ours or a partner's: keep a short `error`/`detail` if they give one.
    try:
        parsed = json.loads(answer)
    except ValueError:
        return ""
    if isinstance(parsed, dict):
        return str(parsed.get("error") or parsed.get("detail") or "")[:200]
    return ""
