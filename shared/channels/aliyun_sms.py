"""Domestic SMS through Aliyun (dysmsapi 2017-05-25, SendSms), signed with ACS3-HMAC-SHA256.

`send` makes the call Aliyun's own SDK makes for SendSms: `POST /` on the dysmsapi endpoint,
every parameter (PhoneNumbers, SignName, TemplateCode, TemplateParam, OutId) in the query,
an empty body, and the V3 signature headers (x-acs-action, x-acs-version, x-acs-date,
x-acs-signature-nonce, x-acs-content-sha256, Authorization). We sign it ourselves with
hmac/hashlib rather than use `alibabacloud-dysmsapi20170525`: that SDK pulls a large
dependency tree and its own HTTP stack, which would bypass our pooled session and pacing.
The signing follows Aliyun's "V3 request structure and signature" and the SDK's
`alibabacloud_openapi_util.get_authorization` (its published test vector is in
tests/unit/test_channels_aliyun.py).

A text is never sent as such: mainland SMS goes only through an approved signature and
template, so each message kind maps to a template code and its named parameters
(ALIYUN_SMS_TEMPLATES). Aliyun answers HTTP 200 for business refusals too, with a `Code`
other than "OK": every answer's Code is read (`classify`), never the status alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from shared.channels.base import (
    Capabilities,
    Delivery,
    FailureKind,
    OutboundMessage,
    SendFailed,
    SendResult,
)
from shared.channels.settings import AliyunSmsTemplate
from shared.channels.support import (
    TRANSPORT_ERRORS,
    http_failure,
    new_session,
    retry_after_seconds,
    safe_reason,
    template_source,
    transport_failure,
)
from shared.sms import segments

ALGORITHM = "ACS3-HMAC-SHA256"
ACTION = "SendSms"
API_VERSION = "2017-05-25"
DEFAULT_BASE_URL = "https://dysmsapi.aliyuncs.com"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# What Aliyun requires in SignedHeaders (every common header but Authorization).
SIGNED_HEADERS = (
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
)

# Flow control. isv.BUSINESS_LIMIT_CONTROL is per number (and signature + template): by
# default 1 a minute, 5 an hour and 50 a day (rolling); Aliyun's message names which
# ("触发分钟级流控Permits:1", "触发小时级流控", "触发天级流控"). A minute's limit clears in a
# minute; the hourly and daily ones are looked at again in an hour: a daily window rolls,
# so some room comes back within the day, and a dose reminder's window closes before a day.
MINUTE_RETRY_S = 60.0
HOUR_RETRY_S = 3600.0
# isv.DAY_LIMIT_CONTROL / MONTH_LIMIT_CONTROL: the account's own caps (console settings);
# they lift when an operator raises them or the period turns: look again hourly.
QUOTA_RETRY_S = 3600.0

RATE_LIMITED_CODES = frozenset(
    {"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "isv.MONTH_LIMIT_CONTROL"}
)
THROTTLING_CODES = frozenset({"Throttling", "Throttling.User", "Throttling.Api"})
# The number cannot receive this SMS: next channel.
RECIPIENT_CODES = frozenset(
    {"isv.MOBILE_NUMBER_ILLEGAL", "isv.BLACK_KEY_CONTROL_LIMIT", "isv.MOBILE_COUNT_OVER_LIMIT"}
)
# Nothing will go until someone fixes the account, signature, template or keys: permanent,
# with a reason that says so, for the coordinators who see it.
CONFIGURATION_CODES: dict[str, str] = {
    "isv.AMOUNT_NOT_ENOUGH": "the account's balance is spent",
    "isv.OUT_OF_SERVICE": "the account is suspended (balance)",
    "isv.SMS_SIGNATURE_ILLEGAL": "ALIYUN_SMS_SIGN_NAME is not an approved signature",
    "isv.SMS_SIGN_ILLEGAL": "the signature may not be used",
    "isv.SIGN_STATE_ILLEGAL": "the signature is not usable",
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL": "the signature does not suit the template's type",
    "isv.SMS_TEMPLATE_ILLEGAL": "a template code in ALIYUN_SMS_TEMPLATES is not approved",
    "isv.TEMPLATE_MISSING_PARAMETERS": "ALIYUN_SMS_TEMPLATES lacks a template parameter",
    "isv.INVALID_JSON_PARAM": "the template parameters are not valid JSON",
    "isv.PARAM_LENGTH_LIMIT": "a template parameter is too long",
    "isv.PRODUCT_UN_SUBSCRIPT": "SMS is not activated for the account",
    "isv.PRODUCT_UNSUBSCRIBE": "SMS is not activated for the account",
    "isv.ACCOUNT_NOT_EXISTS": "the account does not exist",
    "isv.ACCOUNT_ABNORMAL": "the account is abnormal",
    "isp.RAM_PERMISSION_DENY": "the access key lacks the dysms:SendSms permission",
    "InvalidAccessKeyId.NotFound": "ALIYUN_ACCESS_KEY_ID is unknown",
    "InvalidAccessKeyId.Inactive": "ALIYUN_ACCESS_KEY_ID is disabled",
    "SignatureDoesNotMatch": "ALIYUN_ACCESS_KEY_SECRET does not match the key id",
    "IncompleteSignature": "the request signature is incomplete",
    "InvalidTimeStamp.Expired": "this host's clock is off by more than 15 minutes",
}
# Aliyun's side failed, or our nonce collided: the same call may work a moment later.
RETRYABLE_CODES = frozenset(
    {
        "isp.SYSTEM_ERROR",
        "isp.GATEWAY_ERROR",
        "isp.UNKNOWN",
        "ServiceUnavailable",
        "InternalError",
        "SignatureNonceUsed",
    }
)

_MAINLAND_MOBILE = re.compile(r"1\d{10}")


@dataclass(frozen=True)
class AliyunSmsConfig:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    sign_name: str = ""
    templates: Mapping[str, AliyunSmsTemplate] = field(default_factory=dict)
    api_base_url: str = DEFAULT_BASE_URL
    timeout_s: float = 10.0
    max_connections: int = 100


# --- ACS3-HMAC-SHA256 -----------------------------------------------------------------


def percent_encode(value: str) -> str:
    """RFC 3986 encoding of UTF-8: only A-Z a-z 0-9 - _ . ~ stay as they are."""
    return quote(value, safe="~", encoding="utf-8")


def canonical_query(params: Mapping[str, str]) -> str:
    """Parameters sorted by name, each `name=value` percent-encoded; an empty value keeps
    only its name (as the SDK writes it)."""
    parts = []
    for name in sorted(params):
        value = params[name]
        parts.append(
            f"{percent_encode(name)}={percent_encode(value)}" if value else percent_encode(name)
        )
    return "&".join(parts)


def canonical_headers(headers: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """(CanonicalHeaders, SignedHeaders): names lower-cased and sorted, values trimmed, a
    repeated header's values sorted and joined with commas; each line ends with a newline."""
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(value.strip())
    names = sorted(values)
    lines = "".join(f"{name}:{','.join(sorted(values[name]))}\n" for name in names)
    return lines, ";".join(names)


def canonical_request(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Iterable[tuple[str, str]],
    payload_sha256: str,
) -> tuple[str, str]:
    """(CanonicalRequest, SignedHeaders) of a request."""
    lines, signed = canonical_headers(headers)
    text = "\n".join(
        (
            method.upper(),
            quote(path, safe="/~", encoding="utf-8"),
            canonical_query(query),
            lines,
            signed,
            payload_sha256,
        )
    )
    return text, signed


def string_to_sign(canonical: str) -> str:
    return f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def signature(secret: str, to_sign: str) -> str:
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def authorization(access_key_id: str, secret: str, canonical: str, signed: str) -> str:
    """`ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<names>,Signature=<hex>`."""
    sig = signature(secret, string_to_sign(canonical))
    return f"{ALGORITHM} Credential={access_key_id},SignedHeaders={signed},Signature={sig}"


def acs_date(now: datetime | None = None) -> str:
    """x-acs-date: UTC, ISO 8601 to the second (2023-10-26T09:01:01Z)."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signed_headers(
    access_key_id: str,
    secret: str,
    *,
    method: str,
    host: str,
    path: str,
    query: Mapping[str, str],
    body: bytes = b"",
    action: str = ACTION,
    version: str = API_VERSION,
    date: str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Every header a V3-signed call carries, Authorization last."""
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256,
        "x-acs-date": date or acs_date(),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "x-acs-version": version,
    }
    canonical, signed = canonical_request(
        method, path, query, headers.items(), headers["x-acs-content-sha256"]
    )
    headers["Authorization"] = authorization(access_key_id, secret, canonical, signed)
    return headers


# --- SendSms --------------------------------------------------------------------------


def mainland_number(address: str) -> str | None:
    """The 11-digit mainland mobile number (13800138000) of +8613800138000, else None."""
    number = address.strip().replace(" ", "").replace("-", "")
    for prefix in ("+86", "0086"):
        if number.startswith(prefix):
            number = number[len(prefix) :]
            break
    return number if _MAINLAND_MOBILE.fullmatch(number) else None


def template_params(message: OutboundMessage, template: AliyunSmsTemplate) -> dict[str, str]:
    """The template's named parameters: a message field, "text", or "=literal" each."""
    return {
        name: template_source("aliyun", message, f"parameter {name}", source)
        for name, source in template.params.items()
    }


def send_params(
    message: OutboundMessage, number: str, sign_name: str, template: AliyunSmsTemplate
) -> dict[str, str]:
    params = {
        "PhoneNumbers": number,
        "SignName": sign_name,
        "TemplateCode": template.template_code,
        "OutId": message.message_id,
    }
    values = template_params(message, template)
    if values:
        params["TemplateParam"] = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return params


class AliyunSmsChannel:
    """The `sms` channel over Aliyun SMS. Create it anywhere; it connects on first send."""

    def __init__(self, config: AliyunSmsConfig, code: str = "sms") -> None:
        self.code = code
        self.config = config
        self.capabilities = Capabilities(receipts=True, templated=True)
        base = URL(config.api_base_url.rstrip("/"))
        self._base = str(base)
        host = base.host or ""
        self._host = host if base.is_default_port() else f"{host}:{base.port}"
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Made inside the event loop on first use; no await between check and assignment.
        if self._session is None:
            self._session = new_session(self.config.timeout_s, self.config.max_connections)
        return self._session

    def request(self, message: OutboundMessage) -> tuple[URL, dict[str, str]]:
        """The signed SendSms call for `message`: its URL (query included) and headers."""
        number = mainland_number(message.address)
        if number is None:
            raise SendFailed(
                FailureKind.PERMANENT,
                "aliyun: not a mainland China mobile number (domestic SMS sends only to +86 1...)",
                code="not_mainland",
            )
        template = self.config.templates.get(message.kind)
        if template is None:
            raise SendFailed(
                FailureKind.PERMANENT,
                f"aliyun: no template for {message.kind} messages (ALIYUN_SMS_TEMPLATES)",
                code="no_template",
            )
        params = send_params(message, number, self.config.sign_name, template)
        headers = signed_headers(
            self.config.access_key_id,
            self.config.access_key_secret,
            method="POST",
            host=self._host,
            path="/",
            query=params,
        )
        # The query travels exactly as it was signed (yarl must not re-encode it).
        return URL(f"{self._base}/?{canonical_query(params)}", encoded=True), headers

    async def send(self, message: OutboundMessage) -> SendResult:
        url, headers = self.request(message)
        try:
            async with self._http().post(url, headers=headers, allow_redirects=False) as response:
                reply = await response.read()
                status, retry_after = response.status, response.headers.get("Retry-After")
        except TRANSPORT_ERRORS as exc:
            raise transport_failure("aliyun", exc) from None
        body = _json(reply)
        if status == 200 and body.get("Code") == "OK":
            biz_id = body.get("BizId")
            return SendResult(
                Delivery.SENT,
                provider_id=str(biz_id) if biz_id else None,
                segments=segments(message.text),
            )
        raise classify(status, body, retry_after, message.address)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _json(reply: bytes) -> dict[str, Any]:
    try:
        body = json.loads(reply)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _flow_control_wait(message: str) -> float:
    if "分钟" in message or "minute" in message.lower():
        return MINUTE_RETRY_S
    return HOUR_RETRY_S


def classify(
    status: int, body: Mapping[str, Any], retry_after: str | None, *hidden: str
) -> SendFailed:
    """What an answer other than Code "OK" means for the dispatcher."""
    code = body.get("Code")
    code = str(code) if code else None
    text = safe_reason(str(body.get("Message") or ""), *hidden)
    national = [mainland_number(value) for value in hidden]
    if any(national):  # Aliyun may quote the number as sent, without +86
        text = safe_reason(text, *[n for n in national if n])
    wait = retry_after_seconds(retry_after)
    if code is None:
        if status == 200:
            # Not Aliyun's JSON (a proxy's page?): whether it was sent is unknown; SendSms is
            # not idempotent, but a lost dose reminder is worse than a rare duplicate.
            return SendFailed(FailureKind.RETRYABLE, "aliyun: unreadable answer", code="unreadable")
        return http_failure(status, f"aliyun: HTTP {status}", retry_after_s=wait)
    reason = f"aliyun {code}: {text}" if text else f"aliyun {code}"
    if code in RATE_LIMITED_CODES:
        after = (
            _flow_control_wait(str(body.get("Message") or ""))
            if code == "isv.BUSINESS_LIMIT_CONTROL"
            else QUOTA_RETRY_S
        )
        return SendFailed(FailureKind.RATE_LIMITED, reason, code=code, retry_after_s=after)
    if code in THROTTLING_CODES or code.startswith("Throttling") or status == 429:
        return SendFailed(FailureKind.RATE_LIMITED, reason, code=code, retry_after_s=wait)
    if code in RECIPIENT_CODES:
        return SendFailed(FailureKind.PERMANENT, reason, code=code)
    if code in CONFIGURATION_CODES:
        return SendFailed(
            FailureKind.PERMANENT,
            f"aliyun {code}: configuration problem: {CONFIGURATION_CODES[code]}",
            code=code,
        )
    if code in RETRYABLE_CODES or status >= 500:
        return SendFailed(FailureKind.RETRYABLE, reason, code=code, retry_after_s=wait)
    return SendFailed(FailureKind.PERMANENT, reason, code=code)
