"""A fake Aliyun SMS API (dysmsapi 2017-05-25): SendSms, checking the ACS3-HMAC-SHA256 signature.

    python -m deploy.fakes.aliyun --port 9104 [--access-key-id ... --access-key-secret ...]
        [--sign-name 门诊提醒] [--templates SMS_1:time,SMS_2:] [--illegal 13900009002,...]
        [--blacklisted ...] [--daily-cap 50] [--error-rate 0.1 --rate-limit-rate 0.1]

`POST /` (or GET) with `x-acs-action: SendSms` and `x-acs-version: 2017-05-25`, parameters in
the query (as the SDK sends them) or a form body. The signature is checked with this
module's own code (not the adapter's), as Aliyun's gateway does: the Authorization header
`ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<h;...>,Signature=<hex>` must sign at least
host and every x-acs-* header, x-acs-content-sha256 must be the body's SHA-256, x-acs-date
within 15 minutes and the nonce new. Refusals are the gateway's: HTTP 400
SignatureDoesNotMatch (Aliyun answers 400, not 403, with the server's string to sign),
404 InvalidAccessKeyId.NotFound, 400 IncompleteSignature / InvalidTimeStamp.Expired /
SignatureNonceUsed.

A signed SendSms answers HTTP 200 with `{"Code", "Message", "BizId", "RequestId"}`: "OK",
or isv.MOBILE_NUMBER_ILLEGAL (not a mainland mobile, or in `illegal`; the message quotes
the number, to prove the adapter removes it), isv.BLACK_KEY_CONTROL_LIMIT (`blacklisted`),
isv.SMS_SIGNATURE_ILLEGAL (another SignName), isv.SMS_TEMPLATE_ILLEGAL (unknown template),
isv.INVALID_JSON_PARAM, isv.TEMPLATE_MISSING_PARAMETERS, isv.AMOUNT_NOT_ENOUGH
(`amount_not_enough`), isv.BUSINESS_LIMIT_CONTROL (more than `daily_cap` messages to one
number with one signature and template in 24 hours), isp.SYSTEM_ERROR (`busy_rate`).
Chaos: HTTP 503 (ServiceUnavailable) and 429 (Throttling.User, with Retry-After).

Pushes (deploy/fakes/cn_push.py): `--report-url` gets an SmsReport array for each accepted
send (`success` false with err_code MK:0001 for `undeliverable` numbers); `--up-url` gets an
SmsUp array for each `POST /_fake/inbound`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote

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

NONCES: web.AppKey[dict[str, float]] = web.AppKey("nonces")  # nonce -> when seen
SENT: web.AppKey[dict[tuple[str, str, str], list[float]]] = web.AppKey("sent_times")
REQUIRED_SIGNED = (
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
)
_AUTH = re.compile(
    r"ACS3-HMAC-SHA256 Credential=(?P<id>[^,]+),SignedHeaders=(?P<headers>[^,]+),"
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
_MOBILE = re.compile(r"1\d{10}")
DAY_S = 86400.0
SKEW_S = 900.0


@dataclass
class AliyunKnobs:
    access_key_id: str = "LTAI5tFakeAccessKeyId00"
    access_key_secret: str = "fake-access-key-secret"  # noqa: S105 (a fake's test credential)
    sign_name: str = "门诊提醒"
    # template code -> its parameter names; empty: any code is approved, any parameters.
    templates: dict[str, list[str]] = field(default_factory=dict)
    illegal: set[str] = field(default_factory=set)  # isv.MOBILE_NUMBER_ILLEGAL
    blacklisted: set[str] = field(default_factory=set)  # isv.BLACK_KEY_CONTROL_LIMIT
    amount_not_enough: bool = False
    daily_cap: int = 50  # per number + signature + template, rolling 24 h
    busy_rate: float = 0.0  # isp.SYSTEM_ERROR in a 200
    report_url: str | None = None  # SmsReport push (the scheduler's receipts)
    up_url: str | None = None  # SmsUp push (the feedback service's replies)
    undeliverable: set[str] = field(default_factory=set)  # receipt: success false
    callback_delay_s: float = 0.2
    chaos: Chaos = field(default_factory=Chaos)


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {
        "RequestId": _request_id(),
        "HostId": "dysmsapi.aliyuncs.com",
        "Code": code,
        "Message": message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product=Dysmsapi",
    }
    return web.json_response(body, status=status, headers=headers)


def _answer(code: str, message: str, biz_id: str | None = None) -> web.Response:
    body = {"Code": code, "Message": message, "RequestId": _request_id()}
    if biz_id is not None:
        body["BizId"] = biz_id
    return web.json_response(body)


# --- the gateway's own check of ACS3-HMAC-SHA256 --------------------------------------


def _encode(value: str) -> str:
    return quote(value, safe="-_.~", encoding="utf-8")


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


def string_to_sign(
    method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes
) -> str:
    """The server's string to sign: ACS3-HMAC-SHA256, newline, hex SHA-256 of the canonical
    request (method, encoded path, sorted encoded query, the signed headers as `name:value`
    lines, their names joined by `;`, the payload's hex SHA-256)."""
    query_text = "&".join(
        f"{_encode(name)}={_encode(value)}" if value else _encode(name)
        for name, value in sorted(query)
    )
    names = sorted(headers)
    header_lines = "".join(f"{name}:{headers[name].strip()}\n" for name in names)
    canonical = (
        f"{method}\n{quote(path, safe='/~')}\n{query_text}\n{header_lines}\n"
        f"{';'.join(names)}\n{hashlib.sha256(body).hexdigest()}"
    )
    return "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()


def check_signature(request: web.Request, body: bytes) -> web.Response | None:
    """None when the request is signed by the account's key; else the gateway's refusal."""
    state: FakeState[AliyunKnobs] = request.app[STATE]
    knobs = state.knobs
    match = _AUTH.fullmatch(request.headers.get("Authorization", "").strip())
    if match is None:
        state.counters["unsigned"] += 1
        return _error(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        )
    if match["id"] != knobs.access_key_id:
        state.counters["unauthorized"] += 1
        return _error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
    signed = match["headers"].split(";")
    if signed != sorted(signed) or any(name not in signed for name in REQUIRED_SIGNED):
        state.counters["unsigned"] += 1
        return _error(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        )
    headers = {name: request.headers.get(name, "") for name in signed}
    if headers["x-acs-content-sha256"] != hashlib.sha256(body).hexdigest():
        state.counters["bad_signatures"] += 1
        return _error(
            400, "SignatureDoesNotMatch", "The x-acs-content-sha256 does not match the body."
        )
    try:
        when = datetime.strptime(headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return _error(
            400, "InvalidTimeStamp.Format", "Specified time stamp does not match the format."
        )
    if abs((datetime.now(UTC) - when).total_seconds()) > SKEW_S:
        return _error(
            400, "InvalidTimeStamp.Expired", "Specified time stamp or date header is expired."
        )
    to_sign = string_to_sign(
        request.method, request.path, _query_pairs(request.query_string), headers, body
    )
    expected = hmac.new(
        knobs.access_key_secret.encode(), to_sign.encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, match["signature"]):
        state.counters["bad_signatures"] += 1
        return _error(
            400,
            "SignatureDoesNotMatch",
            "Specified signature does not match our calculation. "
            f"server StringToSign is [{to_sign}]",
        )
    nonces = request.app[NONCES]
    now = time.monotonic()
    nonce = headers["x-acs-signature-nonce"]
    if nonce in nonces and now - nonces[nonce] < SKEW_S:
        state.counters["replayed"] += 1
        return _error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
    nonces[nonce] = now
    return None


# --- SendSms --------------------------------------------------------------------------


def _mainland(number: str) -> str | None:
    for prefix in ("+86", "0086", "86"):
        if number.startswith(prefix) and len(number) == len(prefix) + 11:
            number = number[len(prefix) :]
            break
    return number if _MOBILE.fullmatch(number) else None


def _listed(number: str, numbers: set[str]) -> bool:
    """Knobs may name a number as sent (13800138000) or in E.164 (+8613800138000)."""
    return number in numbers or f"+86{number}" in numbers


async def send_sms(request: web.Request) -> web.Response:
    state: FakeState[AliyunKnobs] = request.app[STATE]
    knobs = state.knobs
    state.counters["requests"] += 1
    body = await request.read()
    refused = check_signature(request, body)
    if refused is not None:
        return refused
    if request.headers.get("x-acs-action") != "SendSms":
        return _error(404, "InvalidAction.NotFound", "Specified api is not found.")
    if request.headers.get("x-acs-version") != "2017-05-25":
        return _error(400, "InvalidVersion", "Specified parameter Version is not valid.")
    chaos = await chaos_answer(
        state,
        lambda after: _error(
            429,
            "Throttling.User",
            "Request was denied due to user flow control.",
            {"Retry-After": str(after)},
        ),
        lambda: _error(
            503,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        ),
    )
    if chaos is not None:
        return chaos
    params = dict(_query_pairs(request.query_string))
    if body and request.content_type == "application/x-www-form-urlencoded":
        params.update(_query_pairs(body.decode()))
    for required in ("PhoneNumbers", "SignName", "TemplateCode"):
        if not params.get(required):
            return _error(400, f"Missing{required}", f"{required} is mandatory for this action.")
    sent_to = params["PhoneNumbers"]
    number = _mainland(sent_to)
    if number is None or _listed(number, knobs.illegal):
        state.counters["refused"] += 1
        return _answer("isv.MOBILE_NUMBER_ILLEGAL", f"非法手机号 {sent_to}")
    if _listed(number, knobs.blacklisted):
        state.counters["refused"] += 1
        return _answer("isv.BLACK_KEY_CONTROL_LIMIT", "黑名单管控")
    if params["SignName"] != knobs.sign_name:
        return _answer("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
    template = params["TemplateCode"]
    if knobs.templates and template not in knobs.templates:
        return _answer("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
    try:
        values = json.loads(params.get("TemplateParam") or "{}")
    except ValueError:
        return _answer("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
    if not isinstance(values, dict):
        return _answer("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
    if any(name not in values for name in knobs.templates.get(template, [])):
        return _answer("isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
    if knobs.amount_not_enough:
        return _answer("isv.AMOUNT_NOT_ENOUGH", "账户余额不足")
    if knobs.busy_rate and random.random() < knobs.busy_rate:  # noqa: S311
        return _answer("isp.SYSTEM_ERROR", "系统错误")
    now = time.monotonic()
    key = (number, params["SignName"], template)
    times = [t for t in request.app[SENT].get(key, []) if now - t < DAY_S]
    if len(times) >= knobs.daily_cap:
        state.counters["flow_controlled"] += 1
        return _answer("isv.BUSINESS_LIMIT_CONTROL", f"触发天级流控Permits:{knobs.daily_cap}")
    times.append(now)
    request.app[SENT][key] = times
    state.accepted[f"+86{number}"] += 1
    state.counters["out_ids"] += 1 if params.get("OutId") else 0
    biz_id = f"{secrets.randbelow(10**18):018d}^0"
    cn_push.record_text(request.app, f"+86{number}", " ".join(str(v) for v in values.values()))
    cn_push.push_later(
        request.app,
        knobs.report_url,
        [
            cn_push.aliyun_report(
                number, biz_id, params.get("OutId", ""), _listed(number, knobs.undeliverable)
            )
        ],
        knobs.callback_delay_s,
    )
    return _answer("OK", "OK", biz_id)


def create_app(knobs: AliyunKnobs) -> web.Application:
    state = FakeState.start(knobs)
    app = new_app(state)
    app[NONCES] = {}
    app[SENT] = {}

    def forget() -> None:
        app[NONCES].clear()
        app[SENT].clear()

    state.on_reset = forget
    cn_push.enable(app, cn_push.inbound_route(lambda k: k.up_url, cn_push.aliyun_up, "--up-url"))
    app.router.add_post("/", send_sms)
    app.router.add_get("/", send_sms)
    return app


def _templates(value: str) -> dict[str, list[str]]:
    """`SMS_1:time;name,SMS_2:` -> {"SMS_1": ["time", "name"], "SMS_2": []}."""
    templates: dict[str, list[str]] = {}
    for item in listed(value):
        code, _, names = item.partition(":")
        templates[code] = [name for name in names.split(";") if name]
    return templates


def main(argv: list[str] | None = None) -> None:
    env = os.environ.get
    cli = parser("A fake Aliyun SMS API (SendSms) that checks ACS3-HMAC-SHA256 signatures.")
    cli.add_argument(
        "--access-key-id", default=env("FAKE_ALIYUN_ACCESS_KEY_ID", AliyunKnobs.access_key_id)
    )
    cli.add_argument(
        "--access-key-secret",
        default=env("FAKE_ALIYUN_ACCESS_KEY_SECRET", AliyunKnobs.access_key_secret),
    )
    cli.add_argument("--sign-name", default=env("FAKE_ALIYUN_SIGN_NAME", AliyunKnobs.sign_name))
    cli.add_argument(
        "--templates", default=env("FAKE_ALIYUN_TEMPLATES", ""), help="SMS_1:p1;p2,SMS_2:"
    )
    cli.add_argument("--illegal", default=env("FAKE_ALIYUN_ILLEGAL", ""), help="numbers")
    cli.add_argument("--blacklisted", default=env("FAKE_ALIYUN_BLACKLISTED", ""), help="numbers")
    cli.add_argument("--daily-cap", type=int, default=int(env("FAKE_ALIYUN_DAILY_CAP", "50") or 50))
    cli.add_argument("--report-url", default=env("FAKE_ALIYUN_REPORT_URL") or None)
    cli.add_argument("--up-url", default=env("FAKE_ALIYUN_UP_URL") or None)
    cli.add_argument("--undeliverable", default=env("FAKE_ALIYUN_UNDELIVERABLE", ""))
    cli.add_argument(
        "--callback-delay", type=float, default=float(env("FAKE_ALIYUN_CALLBACK_DELAY", "0.2"))
    )
    args = cli.parse_args(argv)
    knobs = AliyunKnobs(
        access_key_id=args.access_key_id,
        access_key_secret=args.access_key_secret,
        sign_name=args.sign_name,
        templates=_templates(args.templates),
        illegal=listed(args.illegal),
        blacklisted=listed(args.blacklisted),
        daily_cap=args.daily_cap,
        report_url=args.report_url,
        up_url=args.up_url,
        undeliverable=listed(args.undeliverable),
        callback_delay_s=args.callback_delay,
        chaos=chaos_from(args),
    )
    run(create_app(knobs), args, "aliyun")


if __name__ == "__main__":
    main()
