"""A fake Twilio REST API: Messages.json, then signed status callbacks; patients' replies.

    python -m deploy.fakes.twilio --port 9101 [--account-sid AC... --auth-token ...]
        [--opted-out +8613800000001,...] [--invalid ...] [--undeliverable ...]
        [--callback-delay 0.2] [--error-rate 0.1 --rate-limit-rate 0.1 --latency-ms 50]
        [--sms-url https://mmt.example.org/webhooks/twilio/sms --number +15005550006]

`POST /2010-04-01/Accounts/{sid}/Messages.json` (form-encoded, basic auth as the account)
answers 201 with a message resource (`sid` SM..., `status` queued), or Twilio's errors:
20003 (auth), 21604/21602/21603 (missing To/Body/sender), 21211 (invalid To, quoting the
number, as Twilio does), 21610 (unsubscribed recipient), 20429 (429), 20500 (503). After
`callback_delay_s` it POSTs each of `callback_statuses` to the message's StatusCallback,
signed with X-Twilio-Signature as Twilio does (the SDK's RequestValidator algorithm), by
`callback_concurrency` posters (deploy/fakes/callbacks.py), so a burst's callbacks wait in
a heap, not in a task each. `GET /_fake/sent?after=N` lists the accepted messages from the
N-th on, `[accepted_at (Unix seconds), to, body]` each, with `next` (benchmarks read who
got what, and when, as they go).

`POST /_fake/inbound` with JSON `{"from": "+8613800138000", "body": "1"}` is a patient
texting the account's number (`number`): the fake posts the form Twilio posts for an
incoming message (From, To, Body, MessageSid, AccountSid, ...), signed over `sms_url` (the
number's "A message comes in" webhook), and answers `{"status", "replies", "answer"}`:
the webhook's HTTP status, the texts of its TwiML <Message>s (which Twilio would text
back to the patient) and its raw answer.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from urllib.parse import urlencode

from aiohttp import encode_basic_auth, web
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from deploy.fakes.callbacks import POSTER, poster_lifecycle
from deploy.fakes.cn_push import CLIENT, http_lifecycle
from deploy.fakes.common import (
    STATE,
    Chaos,
    FakeState,
    chaos_answer,
    chaos_from,
    forward_inbound,
    json_answer,
    listed,
    new_app,
    parser,
    run,
)
from shared.channels.twilio_sms import SignedForm
from shared.sms import segments

# Every accepted message: (accepted_at, to, body), in order.
SENT: web.AppKey[list[tuple[float, str, str]]] = web.AppKey("sent")
VALIDATOR: web.AppKey[RequestValidator] = web.AppKey("validator")  # signs the callbacks


@dataclass
class TwilioKnobs:
    account_sid: str = "AC00000000000000000000000000000000"
    auth_token: str = "fake-auth-token"  # noqa: S105 (a fake's test credential)
    opted_out: set[str] = field(default_factory=set)  # answer 21610
    invalid: set[str] = field(default_factory=set)  # answer 21211
    undeliverable: set[str] = field(default_factory=set)  # callback: undelivered, 30003
    callback_delay_s: float = 0.2
    callback_statuses: list[str] = field(default_factory=lambda: ["sent", "delivered"])
    callback_concurrency: int = 64  # callbacks posted at once (read at start only)
    sms_url: str | None = None  # the number's incoming-message webhook (patients' replies)
    number: str = "+15005550006"  # the account's number patients text
    chaos: Chaos = field(default_factory=Chaos)


def _error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"code": code, "message": message, "more_info": f"errors/{code}", "status": status}
    return json_answer(body, status=status, headers=headers)


async def create_message(request: web.Request) -> web.Response:
    state: FakeState[TwilioKnobs] = request.app[STATE]
    knobs = state.knobs
    state.counters["requests"] += 1
    expected = encode_basic_auth(knobs.account_sid, knobs.auth_token)
    if (
        not hmac.compare_digest(request.headers.get("Authorization", ""), expected)
        or request.match_info["sid"] != knobs.account_sid
    ):
        state.counters["unauthorized"] += 1
        return _error(401, 20003, "Authenticate")
    chaos = await chaos_answer(
        state,
        lambda after: _error(429, 20429, "Too Many Requests", {"Retry-After": str(after)}),
        lambda: _error(503, 20500, "An internal server error has occurred"),
    )
    if chaos is not None:
        return chaos
    form = await request.post()
    to, body = str(form.get("To", "")), str(form.get("Body", ""))
    sender = str(form.get("From", "")) or None
    service = str(form.get("MessagingServiceSid", "")) or None
    if not to:
        return _error(400, 21604, "A 'To' phone number is required.")
    if not body:
        return _error(400, 21602, "Message body is required.")
    if not (sender or service):
        return _error(400, 21603, "The 'From' phone number is required.")
    if to in knobs.invalid:
        return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if to in knobs.opted_out:
        state.counters["opted_out"] += 1
        return _error(400, 21610, "Attempt to send to unsubscribed recipient")
    sid = "SM" + secrets.token_hex(16)
    state.accepted[to] += 1
    state.texts[to].append(body)
    request.app[SENT].append((time.time(), to, body))
    now = _rfc2822_now()
    resource = {
        "sid": sid,
        "account_sid": knobs.account_sid,
        "messaging_service_sid": service,
        "to": to,
        "from": sender,
        "body": body,
        "status": "queued",
        "num_segments": str(segments(body)),
        "num_media": "0",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "price": None,
        "price_unit": "USD",
        "error_code": None,
        "error_message": None,
        "date_created": now,
        "date_updated": now,
        "date_sent": None,
        "uri": f"/2010-04-01/Accounts/{knobs.account_sid}/Messages/{sid}.json",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{knobs.account_sid}/Messages/{sid}/Media.json"
        },
    }
    callback = str(form.get("StatusCallback", ""))
    if callback:
        _callbacks(request.app, callback, sid, to, sender or service)
    return json_answer(resource, status=201)


@lru_cache(maxsize=2)
def _rfc2822_at(second: int) -> str:
    return format_datetime(datetime.fromtimestamp(second, UTC), usegmt=True)


def _rfc2822_now() -> str:
    """Twilio's dates (RFC 2822, to the second): formatted once a second, not per message."""
    return _rfc2822_at(int(time.time()))


def _callbacks(app: web.Application, url: str, sid: str, to: str, sender: str | None) -> None:
    """Each status a further `callback_delay_s` after the last, posted by the poster."""
    state: FakeState[TwilioKnobs] = app[STATE]
    knobs = state.knobs
    validator = app[VALIDATOR]
    for index, status in enumerate(knobs.callback_statuses, 1):
        final = "undelivered" if to in knobs.undeliverable and status == "delivered" else status
        params = SignedForm(
            AccountSid=knobs.account_sid,
            ApiVersion="2010-04-01",
            From=sender or "",
            MessageSid=sid,
            MessageStatus=final,
            SmsSid=sid,
            SmsStatus=final,
            To=to,
        )
        if final == "undelivered":
            params["ErrorCode"] = "30003"
        headers = {
            "X-Twilio-Signature": validator.compute_signature(url, params),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        # Encoded here, once: aiohttp's FormData per post was a tenth of the fake's CPU in
        # a morning's benchmark, where the fake shares the cores with the suite.
        body = urlencode(params).encode()
        app[POSTER].later(index * knobs.callback_delay_s, url, body, headers)


async def sent(request: web.Request) -> web.Response:
    """The accepted messages from the `after`-th on, and the index to ask from next."""
    log = request.app[SENT]
    after = int(request.query.get("after", "0") or 0)
    return json_answer({"next": len(log), "sent": log[after:]})


def twiml_messages(answer: str) -> list[str]:
    """The texts of a TwiML answer's <Message> verbs (bare text or a <Body>)."""
    if not answer.strip():
        return []
    try:
        root = ElementTree.fromstring(answer)  # noqa: S314 (the answer of the service under test)
    except ElementTree.ParseError:
        return []
    return [
        (message.findtext("Body") or message.text or "").strip() for message in root.iter("Message")
    ]


async def inbound(request: web.Request) -> web.Response:
    """A patient's text to the account's number, delivered as Twilio delivers it."""
    state: FakeState[TwilioKnobs] = request.app[STATE]
    knobs = state.knobs
    if not knobs.sms_url:
        return web.json_response(
            {"error": "no incoming-message webhook: start the fake with --sms-url"}, status=409
        )
    try:
        asked = await request.json()
        sender, body = str(asked["from"]).strip(), str(asked["body"])
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": 'send {"from": "+86...", "body": "..."}'}, status=400)
    if not sender.startswith("+"):
        return web.json_response(
            {"error": "from must be in E.164, e.g. +8613800138000"}, status=400
        )
    sid = "SM" + secrets.token_hex(16)
    params = SignedForm(
        AccountSid=knobs.account_sid,
        ApiVersion="2010-04-01",
        Body=body,
        From=sender,
        MessageSid=sid,
        NumMedia="0",
        NumSegments=str(segments(body)),
        SmsMessageSid=sid,
        SmsSid=sid,
        SmsStatus="received",
        To=knobs.number,
    )
    headers = {
        "X-Twilio-Signature": RequestValidator(knobs.auth_token).compute_signature(
            knobs.sms_url, params
        ),
        "User-Agent": "TwilioProxy/1.1",
    }
    return await forward_inbound(
        request.app[CLIENT], state, knobs.sms_url, params, headers, twiml_messages
    )


def create_app(knobs: TwilioKnobs) -> web.Application:
    state = FakeState.start(knobs)
    app = new_app(state)
    app[SENT] = []
    app[VALIDATOR] = RequestValidator(knobs.auth_token)
    state.on_reset = app[SENT].clear
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", create_message)
    app.router.add_post("/_fake/inbound", inbound)
    app.router.add_get("/_fake/sent", sent)
    app.cleanup_ctx.append(http_lifecycle)

    def count(outcome: str) -> None:
        state.counters[outcome] += 1

    app.cleanup_ctx.append(poster_lifecycle(knobs.callback_concurrency, count))
    return app


def main(argv: list[str] | None = None) -> None:
    env = os.environ.get
    cli = parser("A fake Twilio Messages API with signed status callbacks.")
    cli.add_argument(
        "--account-sid", default=env("FAKE_TWILIO_ACCOUNT_SID", TwilioKnobs.account_sid)
    )
    cli.add_argument("--auth-token", default=env("FAKE_TWILIO_AUTH_TOKEN", TwilioKnobs.auth_token))
    cli.add_argument("--opted-out", default=env("FAKE_TWILIO_OPTED_OUT", ""), help="numbers: 21610")
    cli.add_argument("--invalid", default=env("FAKE_TWILIO_INVALID", ""), help="numbers: 21211")
    cli.add_argument(
        "--undeliverable", default=env("FAKE_TWILIO_UNDELIVERABLE", ""), help="numbers"
    )
    cli.add_argument(
        "--callback-delay", type=float, default=float(env("FAKE_TWILIO_CALLBACK_DELAY", "0.2"))
    )
    cli.add_argument(
        "--callback-statuses", default=env("FAKE_TWILIO_CALLBACK_STATUSES", "sent,delivered")
    )
    cli.add_argument(
        "--sms-url",
        default=env("FAKE_TWILIO_SMS_URL") or None,
        help="webhook for patients' replies (POST /_fake/inbound), as the number's settings",
    )
    cli.add_argument("--number", default=env("FAKE_TWILIO_NUMBER", TwilioKnobs.number))
    cli.add_argument(
        "--callback-concurrency",
        type=int,
        default=int(env("FAKE_TWILIO_CALLBACK_CONCURRENCY", str(TwilioKnobs.callback_concurrency))),
        help="callbacks posted at once",
    )
    args = cli.parse_args(argv)
    knobs = TwilioKnobs(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        opted_out=listed(args.opted_out),
        invalid=listed(args.invalid),
        undeliverable=listed(args.undeliverable),
        callback_delay_s=args.callback_delay,
        callback_statuses=[s for s in args.callback_statuses.split(",") if s],
        sms_url=args.sms_url,
        number=args.number,
        callback_concurrency=args.callback_concurrency,
        chaos=chaos_from(args),
    )
    run(create_app(knobs), args, "twilio")


if __name__ == "__main__":
    main()
