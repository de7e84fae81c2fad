"""SMS through Twilio Programmable Messaging, with the official SDK's async client.

`send` creates a message (`client.messages.create_async`) and returns Twilio's SM... sid;
delivery is confirmed later by a status callback, which the scheduler's webhook route
checks with `verify_twilio_signature` and reads with `parse_twilio_status`.

Errors are read for the dispatcher: 21610 (the recipient replied STOP) is OPTED_OUT and
never retried; 429/20429 is RATE_LIMITED (the SDK does not retry it); 5xx, timeouts and
refused connections are RETRYABLE; any other 4xx is PERMANENT with Twilio's code and
message, stripped of the number Twilio likes to quote back.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlencode

from aiohttp import ClientTimeout, encode_basic_auth
from twilio.base import values  # type: ignore[import-untyped]
from twilio.base.exceptions import (  # type: ignore[import-untyped]
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http.async_http_client import AsyncTwilioHttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response  # type: ignore[import-untyped]
from twilio.request_validator import (  # type: ignore[import-untyped]
    RequestValidator,
    get_signature_algorithm,
)
from twilio.rest import Client  # type: ignore[import-untyped]

from shared.channels.base import (
    Capabilities,
    Delivery,
    FailureKind,
    OutboundMessage,
    ReceiptState,
    SendFailed,
    SendResult,
    StatusUpdate,
)
from shared.channels.support import (
    TRANSPORT_ERRORS,
    http_failure,
    new_session,
    retry_after_seconds,
    safe_reason,
    transport_failure,
)
from shared.sms import segments

OPTED_OUT_CODE = 21610  # "Attempt to send to unsubscribed recipient"
TOO_MANY_REQUESTS_CODE = 20429
STATUS_PATH = "/webhooks/twilio/status"

# Twilio's statuses that are news for a sent message; queued/accepted/sending/scheduled are
# not (there is no callback for the first `queued` anyway).
_RECEIPTS: dict[str, ReceiptState] = {
    "sent": ReceiptState.SENT,
    "delivered": ReceiptState.DELIVERED,
    "read": ReceiptState.DELIVERED,
    "undelivered": ReceiptState.UNDELIVERED,
    "failed": ReceiptState.FAILED,
    "canceled": ReceiptState.FAILED,
}

# The Retry-After of the last response, per task: the SDK turns an error response into an
# exception that keeps no headers, and each send runs in its caller's task context.
_retry_after: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "twilio_retry_after", default=None
)


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str | None = None
    messaging_service_sid: str | None = None
    status_callback_base: str | None = None  # PUBLIC_BASE_URL; None: no receipts
    api_base_url: str | None = None  # a fake's URL in tests
    timeout_s: float = 10.0
    max_connections: int = 100

    def __post_init__(self) -> None:
        if not (self.from_number or self.messaging_service_sid):
            raise ValueError("Twilio needs TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")


class _PooledTwilioHttp(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The SDK's aiohttp client on our pooled session: a real timeout, no request logging
    (the SDK's logs carry URLs and headers we do not need), and Retry-After kept."""

    def __init__(self, timeout_s: float, max_connections: int) -> None:
        super().__init__(pool_connections=False)
        self.session = new_session(timeout_s, max_connections)

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the SDK's signature)
        allow_redirects: bool = False,
    ) -> Response:
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = encode_basic_auth(auth[0], auth[1])
        # The SDK passes timeout=None; handing None on would override the session's timeout
        # (CHANNEL_TIMEOUT_S) with "never": only pass one when the SDK gives one.
        per_call: dict[str, Any] = {"timeout": ClientTimeout(total=timeout)} if timeout else {}
        async with self.session.request(
            method.upper(),
            url,
            params=cast("dict[str, str] | None", params),
            data=data,
            headers=headers,
            allow_redirects=allow_redirects,
            **per_call,
        ) as response:
            text = await response.text()
            _retry_after.set(response.headers.get("Retry-After"))
            return Response(response.status, text, response.headers)


class TwilioSmsChannel:
    """The `sms` channel over Twilio. Create it anywhere; it connects on first send."""

    def __init__(self, config: TwilioConfig, code: str = "sms") -> None:
        self.code = code
        self.config = config
        self.capabilities = Capabilities(receipts=config.status_callback_base is not None)
        self._client: Any = None  # twilio.rest.Client, made inside the event loop

    def _twilio(self) -> Any:
        # aiohttp sessions must be made inside a running loop, hence lazily; no await
        # separates the check from the assignment, so concurrent first sends share one.
        if self._client is None:
            http = _PooledTwilioHttp(self.config.timeout_s, self.config.max_connections)
            client = Client(self.config.account_sid, self.config.auth_token, http_client=http)
            if self.config.api_base_url:
                client.api.base_url = self.config.api_base_url.rstrip("/")
            self._client = client
        return self._client

    def status_callback_url(self, message_id: str) -> str | None:
        """Where Twilio reports on this message; our id rides along so a receipt that
        arrives before the send is recorded still finds its message."""
        if self.config.status_callback_base is None:
            return None
        base = self.config.status_callback_base.rstrip("/")
        return f"{base}{STATUS_PATH}?{urlencode({'message_id': message_id})}"

    async def send(self, message: OutboundMessage) -> SendResult:
        sender: dict[str, Any] = (
            {"messaging_service_sid": self.config.messaging_service_sid}
            if self.config.messaging_service_sid
            else {"from_": self.config.from_number}
        )
        callback = self.status_callback_url(message.message_id)
        _retry_after.set(None)
        try:
            created = await self._twilio().messages.create_async(
                to=message.address,
                body=message.text,
                status_callback=callback if callback else values.unset,
                **sender,
            )
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _failure(exc, message.address, _retry_after.get()) from None
        except TRANSPORT_ERRORS as exc:
            raise transport_failure("twilio", exc) from None
        except ValueError:
            # A 2xx that is not Twilio's JSON (a proxy's page?): whether the message was
            # created is unknown; a later try risks a duplicate, silence risks a lost dose.
            raise SendFailed(
                FailureKind.RETRYABLE, "twilio: unreadable answer", code="unreadable"
            ) from None
        return SendResult(
            Delivery.SENT, provider_id=str(created.sid), segments=segments(message.text)
        )

    def verify_status_callback(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> bool:
        return verify_twilio_signature(
            self.config.auth_token,
            url,
            params,
            _header(headers, "X-Twilio-Signature"),
            signature_settings=_header(headers, "X-Twilio-Webhooks-Signature-Settings"),
        )

    def parse_status_callback(
        self, params: Mapping[str, str], message_id: str | None = None
    ) -> StatusUpdate | None:
        return parse_twilio_status(params, message_id)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.http_client.close()
            self._client = None


def _failure(exc: Any, address: str, retry_after: str | None) -> SendFailed:
    status = int(getattr(exc, "status", 0) or 0)
    code_number = getattr(exc, "code", None)
    code = str(code_number) if code_number is not None else str(status)
    text = str(getattr(exc, "msg", "") or getattr(exc, "detail", "") or getattr(exc, "title", ""))
    text = text.removeprefix("Unable to create record: ")
    reason = f"twilio {code}: {safe_reason(text, address)}" if text else f"twilio {code}"
    if code_number == OPTED_OUT_CODE:
        return SendFailed(FailureKind.OPTED_OUT, f"{reason} (the patient replied STOP)", code=code)
    wait = retry_after_seconds(retry_after)
    if code_number == TOO_MANY_REQUESTS_CODE:
        status = 429
    return http_failure(status or 500, reason, code=code, retry_after_s=wait)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict is case-sensitive; HTTP headers are not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def verify_twilio_signature(
    auth_token: str,
    url: str,
    params: Mapping[str, str],
    signature: str | None,
    *,
    signature_settings: str | None = None,
) -> bool:
    """True when `signature` (X-Twilio-Signature) is Twilio's for this request.

    Give the URL exactly as Twilio called it (public scheme, host, path and query: behind a
    proxy, rebuild it from PUBLIC_BASE_URL) and every form parameter received. A request
    with X-Twilio-Webhooks-Signature-Settings names its algorithm there (HMAC-SHA256 with
    the webhook shared key as `auth_token`); without it, HMAC-SHA1 with the auth token.
    """
    if not signature:
        return False
    algorithm = get_signature_algorithm(signature_settings)
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature, algorithm))


def parse_twilio_status(
    params: Mapping[str, str], message_id: str | None = None
) -> StatusUpdate | None:
    """A status callback's news: None for statuses that change nothing (queued, sending).

    Raises ValueError when the callback lacks MessageSid or MessageStatus.
    """
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid or not status:
        raise ValueError("a Twilio status callback needs MessageSid and MessageStatus")
    state = _RECEIPTS.get(status)
    if state is None:
        return None
    error = params.get("ErrorCode") or None
    return StatusUpdate(provider_id=sid, state=state, error_code=error, message_id=message_id)
