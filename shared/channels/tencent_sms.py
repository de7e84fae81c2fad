"""SMS through Tencent Cloud SMS, API 3.0 (`SendSms`, version 2021-01-11).

`send` POSTs one JSON `SendSms` call (one number, the kind's template and its ordered
`TemplateParamSet`, our message id as `SessionContext`) signed with TC3-HMAC-SHA256, over
our pooled aiohttp session, and returns Tencent's `SerialNo`.

The signature is computed here with hmac/hashlib: Tencent's `tencentcloud-sdk-python` is
synchronous (it would block the event loop, or need a thread per send), and the algorithm
is four documented steps (canonical request, string to sign, derived key, signature).

Tencent answers HTTP 200 to nearly everything: a refused call carries `Response.Error`,
and an accepted call reports each number's own result in `SendStatusSet[i].Code`, which
is read: a 200 is counted as sent only when that code is `Ok`. Codes are read for the
dispatcher: the per-number frequency limits are RATE_LIMITED with the wait their window
implies; a number Tencent refuses (invalid, blacklisted) is PERMANENT; balance, signature,
template and credential problems are PERMANENT with a reason naming them as configuration;
`InternalError.*`, 5xx, timeouts and unreadable answers are RETRYABLE.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from shared.channels.base import (
    Capabilities,
    Delivery,
    FailureKind,
    OutboundMessage,
    SendFailed,
    SendResult,
)
from shared.channels.settings import TencentSmsTemplate
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

ALGORITHM = "TC3-HMAC-SHA256"
SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host"

# Tencent counts its daily limits by the natural day in China (UTC+8, no DST).
CHINA = timezone(timedelta(hours=8))

# Frequency limits, and how long until the window that refused us has room again.
_WAITS: dict[str, float | None] = {
    # at most 1 identical text to a number in 30 s (the default policy): 30 s is the window
    "LimitExceeded.PhoneNumberThirtySecondLimit": 30.0,
    # 5 a number an hour by default; the window is an hour, so an hour is always enough
    "LimitExceeded.PhoneNumberOneHourLimit": 3600.0,
    # daily counts (10 a number, or per identical text) reset at midnight China time
    "LimitExceeded.PhoneNumberDailyLimit": None,
    "LimitExceeded.PhoneNumberSameContentDailyLimit": None,
    "LimitExceeded.AppDailyLimit": None,
    "LimitExceeded.AppGlobalDailyLimit": None,
    "LimitExceeded.DailyLimit": None,
    # the application's own frequency policy, window unknown: try again in a minute
    "LimitExceeded.DeliveryFrequencyLimit": 60.0,
    # the API's calls per second (an account-wide quota): a second
    "RequestLimitExceeded": 1.0,
    "RequestLimitExceeded.GlobalRegionUinLimitExceeded": 1.0,
    "RequestLimitExceeded.UinLimitExceeded": 1.0,
}
_OTHER_LIMIT_S = 60.0  # a LimitExceeded.* we do not know

# The number itself (or this text to it) will not work: the next channel.
_NUMBER_PROBLEMS = frozenset(
    {
        "FailedOperation.PhoneNumberInBlacklist",
        "FailedOperation.PhoneNumberOnBlacklist",
        "FailedOperation.PhoneNumberParseFail",
        "FailedOperation.ContainSensitiveWord",
        "InvalidParameterValue.IncorrectPhoneNumber",
        "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
        "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
        "UnsupportedOperation.UnsupportedRegion",
        "UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone",
        "UnsupportedOperation.GlobalTemplateToChineseMainlandPhone",
    }
)

# Our account's set-up is wrong: nothing sends until someone fixes it, so say so.
_CONFIGURATION = frozenset(
    {
        "FailedOperation.InsufficientBalanceInSmsPackage",
        "FailedOperation.SignatureIncorrectOrUnapproved",
        "FailedOperation.TemplateIncorrectOrUnapproved",
        "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
        "FailedOperation.TemplateUnapprovedOrNotExist",
        "FailedOperation.MissingSignature",
        "FailedOperation.MissingSignatureList",
        "FailedOperation.MissingTemplateList",
        "InvalidParameterValue.TemplateParameterFormatError",
        "InvalidParameterValue.TemplateParameterLengthLimit",
        "InvalidParameterValue.SdkAppIdNotExist",
        "InvalidParameterValue.SignatureNotExist",
        "InvalidParameterValue.TemplateIdNotExist",
    }
)
_CONFIGURATION_PREFIXES = ("AuthFailure", "UnauthorizedOperation")


@dataclass(frozen=True)
class TencentSmsConfig:
    secret_id: str
    secret_key: str = field(repr=False)
    sdk_app_id: str
    sign_name: str
    templates: dict[str, TencentSmsTemplate]
    region: str = "ap-guangzhou"
    api_base_url: str = "https://sms.tencentcloudapi.com"
    timeout_s: float = 10.0
    max_connections: int = 100


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def tc3_signature(
    secret_key: str,
    *,
    service: str,
    host: str,
    timestamp: int,
    payload: bytes,
    content_type: str = CONTENT_TYPE,
) -> str:
    """The hex TC3-HMAC-SHA256 signature of a POST to `/` signing content-type and host."""
    canonical_request = "\n".join(
        (
            "POST",
            "/",
            "",  # no query string
            f"content-type:{content_type}\nhost:{host}\n",  # each header ends with \n
            SIGNED_HEADERS,
            _sha256_hex(payload),
        )
    )
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        (ALGORITHM, str(timestamp), scope, _sha256_hex(canonical_request.encode()))
    )
    key = _hmac(("TC3" + secret_key).encode(), date)
    key = _hmac(key, service)
    key = _hmac(key, "tc3_request")
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def tc3_authorization(
    secret_id: str,
    secret_key: str,
    *,
    service: str,
    host: str,
    timestamp: int,
    payload: bytes,
    content_type: str = CONTENT_TYPE,
) -> str:
    """The Authorization header of a TC3-HMAC-SHA256 signed POST."""
    signature = tc3_signature(
        secret_key,
        service=service,
        host=host,
        timestamp=timestamp,
        payload=payload,
        content_type=content_type,
    )
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    return (
        f"{ALGORITHM} Credential={secret_id}/{date}/{service}/tc3_request, "
        f"SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
    )


class TencentSmsChannel:
    """The `sms` channel over Tencent Cloud SMS. Create it anywhere; it connects on first send."""

    def __init__(self, config: TencentSmsConfig, code: str = "sms") -> None:
        self.code = code
        self.config = config
        self.capabilities = Capabilities(receipts=True, templated=True)
        self._url = config.api_base_url.rstrip("/") + "/"
        self._host = urlsplit(config.api_base_url).netloc.lower()
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Made lazily inside the running loop, as aiohttp requires; no await separates the
        # check from the assignment, so concurrent first sends share one.
        if self._session is None:
            self._session = new_session(self.config.timeout_s, self.config.max_connections)
        return self._session

    def request_body(self, message: OutboundMessage) -> dict[str, Any]:
        """The SendSms parameters for one message (raises SendFailed without a template)."""
        template = self.config.templates.get(message.kind)
        if template is None:
            raise SendFailed(
                FailureKind.PERMANENT,
                f"tencent: no template for {message.kind} messages (TENCENT_SMS_TEMPLATES): "
                "a configuration problem",
                code="no_template",
            )
        return {
            "PhoneNumberSet": [message.address],
            "SmsSdkAppId": self.config.sdk_app_id,
            "SignName": self.config.sign_name,
            "TemplateId": template.template_id,
            "TemplateParamSet": template_params(message, template),
            "SessionContext": message.message_id,
        }

    def headers(self, payload: bytes, timestamp: int) -> dict[str, str]:
        config = self.config
        return {
            "Authorization": tc3_authorization(
                config.secret_id,
                config.secret_key,
                service=SERVICE,
                host=self._host,
                timestamp=timestamp,
                payload=payload,
            ),
            "Content-Type": CONTENT_TYPE,
            "Host": self._host,  # the signed value, whatever aiohttp would have written
            "X-TC-Action": ACTION,
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": config.region,
        }

    async def send(self, message: OutboundMessage) -> SendResult:
        payload = json.dumps(
            self.request_body(message), ensure_ascii=False, separators=(",", ":")
        ).encode()
        headers = self.headers(payload, int(datetime.now(UTC).timestamp()))
        try:
            async with self._http().post(
                self._url, data=payload, headers=headers, allow_redirects=False
            ) as response:
                reply = await response.read()
                status, retry_after = response.status, response.headers.get("Retry-After")
        except TRANSPORT_ERRORS as exc:
            raise transport_failure("tencent", exc) from None
        return read_answer(status, reply, retry_after, message)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def template_params(message: OutboundMessage, template: TencentSmsTemplate) -> list[str]:
    """The template's parameters in order, each from its source."""
    return [
        template_source("tencent", message, f"parameter {{{position}}}", source)
        for position, source in enumerate(template.params, start=1)
    ]


def read_answer(
    status: int,
    reply: bytes,
    retry_after: str | None,
    message: OutboundMessage,
    now: datetime | None = None,
) -> SendResult:
    """What one SendSms answer means for one message: SENT, or SendFailed."""
    if not 200 <= status < 300:
        wait = retry_after_seconds(retry_after)
        raise http_failure(status, f"tencent: HTTP {status}", code=str(status), retry_after_s=wait)
    try:
        answer = json.loads(reply)
        response = answer["Response"]
        if not isinstance(response, dict):
            raise TypeError("Response is not an object")
        error = response.get("Error")
        if error is not None:
            raise failure(str(error["Code"]), str(error.get("Message", "")), message, now)
        statuses = response["SendStatusSet"]
        mine = statuses[0]
        code, text = str(mine["Code"]), str(mine.get("Message", ""))
    except SendFailed:
        raise
    except (ValueError, KeyError, IndexError, TypeError):
        # Not Tencent's answer (a proxy's page?): whether it was sent is unknown; a later
        # try risks a duplicate, silence risks a lost dose.
        raise SendFailed(
            FailureKind.RETRYABLE, "tencent: unreadable answer", code="unreadable"
        ) from None
    if code != "Ok":
        raise failure(code, text, message, now)
    serial = mine.get("SerialNo")
    if not serial:
        raise SendFailed(
            FailureKind.RETRYABLE, "tencent: answer without SerialNo", code="unreadable"
        )
    fee = mine.get("Fee")
    billed = fee if isinstance(fee, int) and fee > 0 else segments(message.text)
    return SendResult(Delivery.SENT, provider_id=str(serial), segments=billed)


def failure(
    code: str, text: str, message: OutboundMessage, now: datetime | None = None
) -> SendFailed:
    """SendFailed for one of Tencent's error codes (of the call, or of the number)."""
    detail = safe_reason(text, message.address, message.message_id)
    reason = f"tencent {code}: {detail}" if detail else f"tencent {code}"
    if code in _WAITS or code.startswith(("LimitExceeded.", "RequestLimitExceeded")):
        if code == "LimitExceeded.PhoneNumberCountLimit":  # more than 200 numbers in a call
            return SendFailed(FailureKind.PERMANENT, reason, code=code)
        wait = _WAITS.get(code, _OTHER_LIMIT_S)
        if wait is None:
            wait = seconds_to_china_midnight(now)
        return SendFailed(FailureKind.RATE_LIMITED, reason, code=code, retry_after_s=wait)
    if code in _CONFIGURATION or code.startswith(_CONFIGURATION_PREFIXES):
        return SendFailed(
            FailureKind.PERMANENT,
            f"{reason} (a configuration problem of the Tencent SMS account)",
            code=code,
        )
    if code.startswith("InternalError") or code in {"ResourceUnavailable", "ServiceUnavailable"}:
        return SendFailed(FailureKind.RETRYABLE, reason, code=code)
    if code in _NUMBER_PROBLEMS:
        return SendFailed(FailureKind.PERMANENT, f"{reason} (refused for this number)", code=code)
    # Anything else: this channel will not carry this message.
    return SendFailed(FailureKind.PERMANENT, reason, code=code)


def seconds_to_china_midnight(now: datetime | None = None) -> float:
    """Seconds until the next midnight in China, when Tencent's daily counts start over."""
    local = (now or datetime.now(UTC)).astimezone(CHINA)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1.0, (midnight - local).total_seconds())
