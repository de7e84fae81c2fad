"""What every HTTP adapter needs alike: a pooled session, Retry-After, safe reasons.

A failure reason is stored on the message and shown to coordinators, and providers like to
quote the recipient back ("The 'To' number +86... is not valid"): every reason goes through
`safe_reason`, which removes the address it was given and anything shaped like a phone
number or an openid.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from shared.channels.base import FailureKind, OutboundMessage, SendFailed
from shared.logging import redact_text

# What a network call can raise short of an HTTP answer: worth another try later.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, asyncio.TimeoutError)

_LONG_DIGITS = re.compile(r"\+?\d[\d \-]{5,}\d")  # any 7+ digit run: a number, whatever its form
_MAX_REASON = 300


def new_session(timeout_s: float, max_connections: int) -> aiohttp.ClientSession:
    """One pooled session per adapter; call inside the event loop (aiohttp requires it)."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        connector=aiohttp.TCPConnector(limit=max_connections, limit_per_host=max_connections),
        raise_for_status=False,
    )


def safe_reason(text: str, *hidden: str) -> str:
    """A reason fit to store and show: no address, no number, no openid, bounded length."""
    for value in hidden:
        if value:
            text = text.replace(value, "[recipient]")
    text = _LONG_DIGITS.sub("[number]", redact_text(text))
    return text[:_MAX_REASON]


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def http_failure(
    status: int, reason: str, *, code: str | None = None, retry_after_s: float | None = None
) -> SendFailed:
    """The usual reading of an HTTP status: 429 slow down, 408/5xx later, other 4xx never."""
    if status == 429:
        return SendFailed(
            FailureKind.RATE_LIMITED, reason, code=code or "429", retry_after_s=retry_after_s
        )
    if status == 408 or status >= 500:
        return SendFailed(
            FailureKind.RETRYABLE, reason, code=code or str(status), retry_after_s=retry_after_s
        )
    return SendFailed(FailureKind.PERMANENT, reason, code=code or str(status))


def transport_failure(vendor: str, exc: BaseException) -> SendFailed:
    """A timeout or a refused connection: the provider may be fine a moment later."""
    kind = "timed out" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
    return SendFailed(FailureKind.RETRYABLE, f"{vendor}: network error ({kind})", code="network")


def template_source(vendor: str, message: OutboundMessage, slot: str, source: str) -> str:
    """The value a provider template's field or parameter (`slot`) takes from its configured
    source: "=literal" a fixed text, "text" the whole message, else a field of the message
    ("first", "url", ...). One rule for every templated vendor (WeChat, Aliyun, Tencent)."""
    if source.startswith("="):
        return source[1:]
    value = message.text if source == "text" else message.fields.get(source)
    if value is None:
        raise SendFailed(
            FailureKind.PERMANENT,
            f"{vendor}: the {message.kind} template's {slot} needs {source!r}, "
            "which this message lacks",
            code="template_field",
        )
    return value
