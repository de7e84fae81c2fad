"""A fake Tencent Cloud SMS API 3.0: SendSms (2021-01-11), TC3-HMAC-SHA256 checked.

    python -m deploy.fakes.tencent --port 9104 [--secret-id AKID... --secret-key ...]
        [--sdk-app-id 1400000000 --sign-name 门诊提醒 --templates 100001,100002]
        [--blacklisted +8613800000001,...] [--invalid ...] [--daily-cap 10]
        [--error-rate 0.1 --rate-limit-rate 0.1 --latency-ms 50]

`POST /` with the X-TC-Action/-Version/-Timestamp/-Region headers and a JSON body answers
HTTP 200 as Tencent does: `{"Response": {"SendStatusSet": [...], "RequestId"}}` with each
number's own `Code` ("Ok", `FailedOperation.PhoneNumberInBlacklist`,
`InvalidParameterValue.IncorrectPhoneNumber`, `LimitExceeded.PhoneNumberDailyLimit` past
`daily_cap` sends a number a day, `LimitExceeded.PhoneNumberThirtySecondLimit` for the
same text to a number within 30 s), or `{"Response": {"Error": {"Code", "Message"}}}` for
the call: `AuthFailure.SignatureFailure` when the signature (recomputed here, by this
module's own code) differs, `AuthFailure.SecretIdNotFound`, `AuthFailure.SignatureExpire`
(a timestamp over five minutes off), `FailedOperation.SignatureIncorrectOrUnapproved`,
`FailedOperation.TemplateIncorrectOrUnapproved`, `FailedOperation.InsufficientBalanceInSmsPackage`
(`insufficient_balance`). Chaos: HTTP 503 and 429 with Retry-After (as a gateway would).

Callbacks (deploy/fakes/cn_push.py): `--status-url` gets a status array for each number sent
(`report_status` FAIL for `undeliverable` numbers); `--reply-url` gets a reply callback for
each `POST /_fake/inbound`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from deploy.fakes import cn_push
from deploy.fakes.common import (
    STATE,
    Chaos,
    FakeState,
    chaos_answer,
    chaos_from,
    listed,
    new_app,
    parser,
    run,
)
from shared.sms import segments

SAME_CONTENT_WINDOW_S = 30.0
MAX_SKEW_S = 300
_AUTHORIZATION = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/]+)"
    r"/tc3_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)
_E164 = re.compile(r"^\+\d{6,15}$")


@dataclass
class TencentKnobs:
    secret_id: str = "AKIDfake0000000000000000000000000000"  # noqa: S105 (a fake's)
    secret_key: str = "fake-secret-key"  # noqa: S105 (a fake's test credential)
    sdk_app_id: str = "1400000000"
    sign_name: str = "门诊提醒"
    templates: set[str] = field(default_factory=set)  # approved ids; empty: any
    blacklisted: set[str] = field(default_factory=set)  # PhoneNumberInBlacklist
    invalid: set[str] = field(default_factory=set)  # IncorrectPhoneNumber
    insufficient_balance: bool = False
    daily_cap: int = 10  # Tencent's default per number and day; 0: none
    status_url: str | None = None  # status callbacks (the scheduler's receipts)
    reply_url: str | None = None  # reply callbacks (the feedback service's replies)
    undeliverable: set[str] = field(default_factory=set)  # status: FAIL
    callback_delay_s: float = 0.2
    chaos: Chaos = field(default_factory=Chaos)


@dataclass
class _Ledger:
    """What the fake remembers per number: today's count and its last texts."""

    day: dict[str, tuple[str, int]] = field(default_factory=dict)  # number -> (date, count)
    last: dict[tuple[str, str], float] = field(default_factory=dict)  # (number, text) -> when

    def clear(self) -> None:
        self.day.clear()
        self.last.clear()


LEDGER: web.AppKey[_Ledger] = web.AppKey("ledger")


def _hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def expected_signature(
    secret_key: str, content_type: str, host: str, timestamp: str, body: bytes, date: str
) -> str:
    """TC3-HMAC-SHA256 as Tencent's documentation describes it, written out separately
    from the adapter's so that the two check each other."""
    canonical = f"POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n"
    canonical += _hex(body)
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{date}/sms/tc3_request\n{_hex(canonical.encode())}"
    key = ("TC3" + secret_key).encode()
    for part in (date, "sms", "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _answer(response: dict[str, Any], status: int = 200, **headers: str) -> web.Response:
    response["RequestId"] = str(uuid.uuid4())
    return web.json_response({"Response": response}, status=status, headers=headers or None)


def _error(code: str, message: str) -> web.Response:
    return _answer({"Error": {"Code": code, "Message": message}})


def _check_auth(request: web.Request, knobs: TencentKnobs, body: bytes) -> web.Response | None:
    headers = request.headers
    if headers.get("X-TC-Action") != "SendSms":
        return _error("InvalidAction", "The action requested is invalid for this service.")
    if headers.get("X-TC-Version") != "2021-01-11":
        return _error("NoSuchVersion", "The API version does not exist.")
    if not headers.get("X-TC-Region"):
        return _error("MissingParameter", "The request is missing a required parameter `Region`.")
    match = _AUTHORIZATION.match(headers.get("Authorization", ""))
    timestamp = headers.get("X-TC-Timestamp", "")
    if match is None or not timestamp.isdigit():
        return _error("AuthFailure.InvalidAuthorization", "Authorization is invalid.")
    if match["id"] != knobs.secret_id:
        return _error("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
    if abs(time.time() - int(timestamp)) > MAX_SKEW_S:
        return _error("AuthFailure.SignatureExpire", "Signature expired.")
    date = datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d")
    if match["service"] != "sms" or match["date"] != date or match["signed"] != "content-type;host":
        return _error(
            "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
        )
    want = expected_signature(
        knobs.secret_key,
        headers.get("Content-Type", ""),
        headers.get("Host", "").lower(),
        timestamp,
        body,
        date,
    )
    if not hmac.compare_digest(want, match["signature"]):
        return _error(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. "
            "Please check your signature is correct.",
        )
    return None


async def send_sms(request: web.Request) -> web.Response:
    state: FakeState[TencentKnobs] = request.app[STATE]
    knobs = state.knobs
    state.counters["requests"] += 1
    body = await request.read()
    refused = _check_auth(request, knobs, body)
    if refused is not None:
        state.counters["unauthorized"] += 1
        return refused
    chaos = await chaos_answer(
        state,
        lambda after: web.Response(
            status=429, text="Too Many Requests", headers={"Retry-After": str(after)}
        ),
        lambda: web.Response(status=503, text="<html>503 Service Unavailable</html>"),
    )
    if chaos is not None:
        return chaos
    try:
        params = json.loads(body)
        numbers = [str(n) for n in params["PhoneNumberSet"]]
        app_id, sign = str(params["SmsSdkAppId"]), str(params.get("SignName", ""))
        template = str(params["TemplateId"])
        values = [str(v) for v in params.get("TemplateParamSet", [])]
        context = str(params.get("SessionContext", ""))
    except (ValueError, KeyError, TypeError):
        return _error("InvalidParameter", "The request body is not valid SendSms parameters.")
    if not numbers:
        return _error("MissingParameter", "PhoneNumberSet is empty.")
    if app_id != knobs.sdk_app_id:
        return _error("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId does not exist.")
    if sign != knobs.sign_name:
        return _error(
            "FailedOperation.SignatureIncorrectOrUnapproved",
            "The signature is not approved or does not exist.",
        )
    if knobs.templates and template not in knobs.templates:
        return _error(
            "FailedOperation.TemplateIncorrectOrUnapproved",
            "The template is not approved or does not exist.",
        )
    if knobs.insufficient_balance:
        return _error(
            "FailedOperation.InsufficientBalanceInSmsPackage",
            "The SMS package balance is insufficient.",
        )
    text = f"【{sign}】" + " ".join(values)
    statuses = [_one(state, request.app[LEDGER], number, text, context) for number in numbers]
    for sent in statuses:
        if sent["Code"] == "Ok":
            number = sent["PhoneNumber"]
            cn_push.record_text(request.app, number, " ".join(values))
            undelivered = number in knobs.undeliverable
            report = cn_push.tencent_status(number[3:], sent["SerialNo"], undelivered)
            cn_push.push_later(request.app, knobs.status_url, [report], knobs.callback_delay_s)
    return _answer({"SendStatusSet": statuses})


def _one(
    state: FakeState[TencentKnobs], ledger: _Ledger, number: str, text: str, context: str
) -> dict[str, Any]:
    knobs = state.knobs
    result: dict[str, Any] = {
        "SerialNo": "",
        "PhoneNumber": number,
        "Fee": 0,
        "SessionContext": context,
        "IsoCode": "CN" if number.startswith("+86") else "",
    }

    def refused(code: str, message: str) -> dict[str, Any]:
        state.counters[code] += 1
        return {**result, "Code": code, "Message": message}

    if number in knobs.invalid or not _E164.match(number):
        # Tencent quotes the number back; the adapter must not store it.
        return refused(
            "InvalidParameterValue.IncorrectPhoneNumber", f"incorrect phone number {number}"
        )
    if number in knobs.blacklisted:
        return refused("FailedOperation.PhoneNumberInBlacklist", f"{number} is in blacklist")
    now = time.monotonic()
    last = ledger.last.get((number, text))
    if last is not None and now - last < SAME_CONTENT_WINDOW_S:
        return refused(
            "LimitExceeded.PhoneNumberThirtySecondLimit",
            "the same content was sent to this number within 30 seconds",
        )
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    day, count = ledger.day.get(number, (today, 0))
    count = count if day == today else 0
    if knobs.daily_cap and count >= knobs.daily_cap:
        return refused("LimitExceeded.PhoneNumberDailyLimit", "this number reached its daily limit")
    ledger.day[number] = (today, count + 1)
    ledger.last[(number, text)] = now
    state.accepted[number] += 1
    fee = segments(text)
    return {
        **result,
        "SerialNo": f"2433:{secrets.randbelow(10**19):019d}",
        "Fee": fee,
        "Code": "Ok",
        "Message": "send success",
    }


def create_app(knobs: TencentKnobs) -> web.Application:
    state = FakeState.start(knobs)
    ledger = _Ledger()
    state.on_reset = ledger.clear
    app = new_app(state)
    app[LEDGER] = ledger
    cn_push.enable(
        app, cn_push.inbound_route(lambda k: k.reply_url, cn_push.tencent_reply, "--reply-url")
    )
    app.router.add_post("/", send_sms)
    return app


def main(argv: list[str] | None = None) -> None:
    env = os.environ.get
    cli = parser("A fake Tencent Cloud SMS API (SendSms) that checks TC3 signatures.")
    cli.add_argument("--secret-id", default=env("FAKE_TENCENT_SECRET_ID", TencentKnobs.secret_id))
    cli.add_argument(
        "--secret-key", default=env("FAKE_TENCENT_SECRET_KEY", TencentKnobs.secret_key)
    )
    cli.add_argument(
        "--sdk-app-id", default=env("FAKE_TENCENT_SDK_APP_ID", TencentKnobs.sdk_app_id)
    )
    cli.add_argument("--sign-name", default=env("FAKE_TENCENT_SIGN_NAME", TencentKnobs.sign_name))
    cli.add_argument(
        "--templates", default=env("FAKE_TENCENT_TEMPLATES", ""), help="ids; empty: any"
    )
    cli.add_argument("--blacklisted", default=env("FAKE_TENCENT_BLACKLISTED", ""), help="numbers")
    cli.add_argument("--invalid", default=env("FAKE_TENCENT_INVALID", ""), help="numbers")
    cli.add_argument(
        "--daily-cap", type=int, default=int(env("FAKE_TENCENT_DAILY_CAP", "10")), help="0: none"
    )
    cli.add_argument("--status-url", default=env("FAKE_TENCENT_STATUS_URL") or None)
    cli.add_argument("--reply-url", default=env("FAKE_TENCENT_REPLY_URL") or None)
    cli.add_argument("--undeliverable", default=env("FAKE_TENCENT_UNDELIVERABLE", ""))
    cli.add_argument(
        "--callback-delay", type=float, default=float(env("FAKE_TENCENT_CALLBACK_DELAY", "0.2"))
    )
    args = cli.parse_args(argv)
    knobs = TencentKnobs(
        secret_id=args.secret_id,
        secret_key=args.secret_key,
        sdk_app_id=args.sdk_app_id,
        sign_name=args.sign_name,
        templates=listed(args.templates),
        blacklisted=listed(args.blacklisted),
        invalid=listed(args.invalid),
        daily_cap=args.daily_cap,
        status_url=args.status_url,
        reply_url=args.reply_url,
        undeliverable=listed(args.undeliverable),
        callback_delay_s=args.callback_delay,
        chaos=chaos_from(args),
    )
    run(create_app(knobs), args, "tencent")


if __name__ == "__main__":
    main()
