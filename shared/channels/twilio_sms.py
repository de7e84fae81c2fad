"""SMS through Twilio Programmable Messaging, as the official SDK would send it.

`send` creates a message: the POST `client.messages.create` makes (URL, headers, form
fields and basic auth taken from the SDK), sent over our pooled aiohttp session, with
errors read into the SDK's own exceptions; it returns Twilio's SM... sid;
delivery is confirmed later by a status callback, which the scheduler's webhook route
checks with `verify_twilio_signature` and reads with `parse_twilio_status`.

Errors are read for the dispatcher: 21610 (the recipient replied STOP) is OPTED_OUT and
never retried; 429/20429 is RATE_LIMITED (the SDK does not retry it); 5xx, timeouts and
refused connections are RETRYABLE; any other 4xx is PERMANENT with Twilio's code and
message, stripped of the number Twilio likes to quote back.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import msgspec
from aiohttp import encode_basic_auth
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

_UNABLE = "Unable to create record"  # the SDK's words for a refused create


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


@dataclass(frozen=True)
class _Endpoint:
    """Messages.json as the SDK would call it: its URL, its headers (User-Agent,
    X-Twilio-Client, Accept, Content-Type, basic auth) and its error reading."""

    url: str
    uri: str
    headers: dict[str, str]
    version: Any  # the SDK's Api v2010: builds TwilioRestException from an error answer


def _endpoint(config: TwilioConfig) -> _Endpoint:
    # The SDK only describes the request here; nothing is sent through it. Its own async
    # path cost about three times the CPU of this one per message (form encoding in
    # aiohttp's FormData, three layers of request objects, a MessageInstance with parsed
    # dates): the largest item of a burst's profile (docs/benchmarks.md).
    client = Client(config.account_sid, config.auth_token)
    if config.api_base_url:
        client.api.base_url = config.api_base_url.rstrip("/")
    version = client.api.v2010
    uri = version.account.messages._uri
    headers = client.get_headers(
        "POST", {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    )
    headers["Authorization"] = encode_basic_auth(config.account_sid, config.auth_token)
    return _Endpoint(client.get_hostname(version.absolute_url(uri)), uri, headers, version)


class TwilioSmsChannel:
    """The `sms` channel over Twilio. Create it anywhere; it connects on first send."""

    def __init__(self, config: TwilioConfig, code: str = "sms") -> None:
        self.code = code
        self.config = config
        self.capabilities = Capabilities(receipts=config.status_callback_base is not None)
        self._endpoint = _endpoint(config)
        self._sender = (
            ("MessagingServiceSid", config.messaging_service_sid)
            if config.messaging_service_sid
            else ("From", config.from_number or "")
        )
        # What every message's form shares, percent-encoded once: quoting the same callback
        # URL and sender again for every message was most of building its form (only the
        # recipient, the id and the text vary).
        base = config.status_callback_base
        # Our id rides along so a receipt that arrives before the send is recorded still
        # finds its message.
        self._callback_url = (
            f"{base.rstrip('/')}{STATUS_PATH}?message_id=" if base is not None else None
        )
        self._callback_prefix = (
            f"StatusCallback={quote_plus(self._callback_url)}"
            if self._callback_url is not None
            else None
        )
        self._sender_field = f"{self._sender[0]}={quote_plus(self._sender[1])}"
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # aiohttp sessions must be made inside a running loop, hence lazily; no await
        # separates the check from the assignment, so concurrent first sends share one.
        if self._session is None:
            self._session = new_session(self.config.timeout_s, self.config.max_connections)
        return self._session

    def status_callback_url(self, message_id: str) -> str | None:
        """Where Twilio reports on this message."""
        if self._callback_url is None:
            return None
        return self._callback_url + quote_plus(message_id)

    def form(self, message: OutboundMessage) -> list[tuple[str, str]]:
        """The form the SDK's `messages.create` posts, in its order."""
        fields = [("To", message.address)]
        callback = self.status_callback_url(message.message_id)
        if callback:
            fields.append(("StatusCallback", callback))
        fields += [self._sender, ("Body", message.text)]
        return fields

    def encoded(self, message: OutboundMessage) -> bytes:
        """`encode_form(self.form(message))`, from the parts encoded once."""
        fields = [f"To={quote_plus(message.address)}"]
        if self._callback_prefix is not None:
            # The id is quoted as a query value inside the URL, then the URL as a form value.
            fields.append(self._callback_prefix + quote_plus(quote_plus(message.message_id)))
        fields += [self._sender_field, f"Body={_quoted_text(message.text)}"]
        return "&".join(fields).encode()

    async def send(self, message: OutboundMessage) -> SendResult:
        endpoint = self._endpoint
        body = self.encoded(message)
        try:
            async with self._http().post(
                endpoint.url, data=body, headers=endpoint.headers, allow_redirects=False
            ) as response:
                reply = await response.read()
                status, headers = response.status, response.headers
        except TRANSPORT_ERRORS as exc:
            raise transport_failure("twilio", exc) from None
        if not 200 <= status < 300:
            answer = Response(status, reply.decode("utf-8", "replace"), headers)
            error = endpoint.version.exception("POST", endpoint.uri, answer, _UNABLE)
            raise _failure(error, message.address, headers.get("Retry-After"))
        try:
            # Only the sid is read, by a typed decoder: parsing the whole answer with
            # `json` (and guessing its charset first) was a few per cent of a burst.
            sid = _read_created(reply).sid
        except msgspec.MsgspecError:
            # A 2xx that is not Twilio's JSON (a proxy's page?): whether the message was
            # created is unknown; a later try risks a duplicate, silence risks a lost dose.
            raise SendFailed(
                FailureKind.RETRYABLE, "twilio: unreadable answer", code="unreadable"
            ) from None
        return SendResult(Delivery.SENT, provider_id=sid, segments=_segments(message.text))

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
        if self._session is not None:
            await self._session.close()
            self._session = None


# Percent-encoding a Chinese text is most of building a request, and a burst sends the same
# few texts (one wording per kind and language) to everyone: keep the latest ones encoded,
# and counted in segments.
_quoted_text = lru_cache(maxsize=512)(quote_plus)
_segments = lru_cache(maxsize=512)(segments)


class _Created(msgspec.Struct):
    """The one field of Twilio's Message resource a send needs."""

    sid: str


_read_created = msgspec.json.Decoder(_Created).decode


def encode_form(fields: list[tuple[str, str]]) -> bytes:
    """The form as `urlencode` writes it (field names are plain ASCII words)."""
    return "&".join(
        f"{name}={_quoted_text(value) if name == 'Body' else quote_plus(value)}"
        for name, value in fields
    ).encode()


def _failure(exc: Any, address: str, retry_after: str | None) -> SendFailed:
    status = int(getattr(exc, "status", 0) or 0)
    code_number = getattr(exc, "code", None)
    code = str(code_number) if code_number is not None else str(status)
    text = str(getattr(exc, "msg", "") or getattr(exc, "detail", "") or getattr(exc, "title", ""))
    text = text.removeprefix(f"{_UNABLE}: ")
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


class SignedForm(dict[str, str]):
    """A request's form fields as the SDK's RequestValidator reads them cheapest.

    The validator asks the form for each field's values with `getall` (a MultiDict's),
    then `getlist` (Django's), and only then reads it as a dict: on a plain dict that is two
    AttributeErrors raised and caught per field, which more than doubled the cost of a
    signature (15 against 6.4 microseconds for a status callback's eight fields), paid for
    every receipt and every patient's text. Twilio's SMS webhooks send one value a field."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


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
    validator = RequestValidator(auth_token)
    form = SignedForm(params)
    # `validate` always signs the URL twice, with and without its port, one of which is the
    # URL as given: that one first, alone, is the usual case at half the cost (receipts
    # arrive by the thousand a second in a morning burst). Any other case goes to it.
    try:
        exact = validator.compute_signature(url, form, algorithm)
    except ValueError:  # an algorithm this SDK does not know: validate() says so and refuses
        exact = ""
    if exact and hmac.compare_digest(exact.encode(), signature.encode()):
        return True
    return bool(validator.validate(url, form, signature, algorithm))


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
