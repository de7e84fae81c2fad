"""Twilio's pure parts: request signatures, status callbacks, error mapping."""

from __future__ import annotations

import base64
import hmac

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.typedefs import Handler
from twilio.base.exceptions import TwilioRestException  # type: ignore[import-untyped]
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from shared.channels import FailureKind, OutboundMessage, ReceiptState, SendFailed, SendResult
from shared.channels.twilio_sms import (
    SignedForm,
    TwilioConfig,
    TwilioSmsChannel,
    _failure,
    parse_twilio_status,
    verify_twilio_signature,
)

# The vector of twilio-python's own RequestValidator tests.
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def hand_signature(token: str, url: str, params: dict[str, str], digest: str = "sha1") -> str:
    """Twilio's documented algorithm: the URL, then each name and value sorted by name."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    mac = hmac.new(token.encode(), payload.encode(), digest)
    return base64.b64encode(mac.digest()).decode()


def test_the_sdk_and_the_documented_algorithm_agree_on_the_published_vector() -> None:
    assert RequestValidator(TOKEN).compute_signature(URL, PARAMS) == EXPECTED
    assert hand_signature(TOKEN, URL, PARAMS) == EXPECTED
    assert verify_twilio_signature(TOKEN, URL, PARAMS, EXPECTED)


def test_the_sdk_signs_the_lean_form_as_it_signs_a_dict() -> None:
    # SignedForm answers the validator's `getall` so that it raises no AttributeError per
    # field: the signature must not change with it.
    form = SignedForm(PARAMS)
    assert form.getall("Digits") == ["1234"]
    assert RequestValidator(TOKEN).compute_signature(URL, form) == EXPECTED


def test_the_url_may_name_the_default_port() -> None:
    with_port = URL.replace("mycompany.com", "mycompany.com:443")
    assert verify_twilio_signature(TOKEN, with_port, PARAMS, EXPECTED)


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        (TOKEN, URL, {**PARAMS, "Digits": "1235"}, EXPECTED),  # a tampered parameter
        (TOKEN, URL, {**PARAMS, "Extra": "x"}, EXPECTED),  # an added one
        (TOKEN, URL.replace("foo=1", "foo=2"), PARAMS, EXPECTED),  # another query
        (TOKEN, URL.replace("https", "http"), PARAMS, EXPECTED),  # another scheme
        ("54321", URL, PARAMS, EXPECTED),  # another account's token
        (TOKEN, URL, PARAMS, ""),  # no header
        (TOKEN, URL, PARAMS, None),
    ],
)
def test_anything_else_fails(
    token: str, url: str, params: dict[str, str], signature: str | None
) -> None:
    assert not verify_twilio_signature(token, url, params, signature)


def test_sha256_signatures_are_checked_when_the_settings_header_says_so() -> None:
    signature = hand_signature("shared-key", URL, PARAMS, "sha256")
    settings = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    assert verify_twilio_signature(
        "shared-key", URL, PARAMS, signature, signature_settings=settings
    )
    assert not verify_twilio_signature("shared-key", URL, PARAMS, signature)  # read as SHA-1


def test_the_channel_reads_the_signature_header_in_any_case() -> None:
    channel = TwilioSmsChannel(TwilioConfig("AC1", TOKEN, from_number="+15005550006"))
    assert channel.verify_status_callback(URL, PARAMS, {"x-twilio-signature": EXPECTED})
    assert not channel.verify_status_callback(URL, PARAMS, {})


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("sent", ReceiptState.SENT),
        ("delivered", ReceiptState.DELIVERED),
        ("read", ReceiptState.DELIVERED),
        ("undelivered", ReceiptState.UNDELIVERED),
        ("failed", ReceiptState.FAILED),
        ("canceled", ReceiptState.FAILED),
    ],
)
def test_statuses_that_are_news(status: str, state: ReceiptState) -> None:
    update = parse_twilio_status({"MessageSid": "SM1", "MessageStatus": status}, "m-1")
    assert update is not None
    assert (update.provider_id, update.state, update.message_id) == ("SM1", state, "m-1")
    assert update.state.final is (state is not ReceiptState.SENT)


def test_an_error_code_travels_with_the_update() -> None:
    params = {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    update = parse_twilio_status(params)
    assert update is not None
    assert update.error_code == "30003"


@pytest.mark.parametrize("status", ["queued", "accepted", "sending", "scheduled", "new-one"])
def test_statuses_that_change_nothing_are_none(status: str) -> None:
    assert parse_twilio_status({"MessageSid": "SM1", "MessageStatus": status}) is None


@pytest.mark.parametrize("params", [{}, {"MessageSid": "SM1"}, {"MessageStatus": "sent"}])
def test_a_callback_without_sid_or_status_is_refused(params: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="MessageSid"):
        parse_twilio_status(params)


NUMBER = "+8613812345678"


@pytest.mark.parametrize(
    ("status", "code", "message", "retry_after", "kind", "wait"),
    [
        (
            400,
            21610,
            "Attempt to send to unsubscribed recipient",
            None,
            FailureKind.OPTED_OUT,
            None,
        ),
        (429, 20429, "Too Many Requests", "5", FailureKind.RATE_LIMITED, 5.0),
        (400, 20429, "Too Many Requests", None, FailureKind.RATE_LIMITED, None),
        (503, 20500, "An internal server error has occurred", "3", FailureKind.RETRYABLE, 3.0),
        (500, None, "", None, FailureKind.RETRYABLE, None),
        (400, 21211, f"The 'To' number {NUMBER} is not valid.", None, FailureKind.PERMANENT, None),
        (401, 20003, "Authenticate", None, FailureKind.PERMANENT, None),
    ],
)
def test_errors_map_to_what_the_dispatcher_does(
    status: int,
    code: int | None,
    message: str,
    retry_after: str | None,
    kind: FailureKind,
    wait: float | None,
) -> None:
    exc = TwilioRestException(status, "/Messages.json", f"Unable to create record: {message}", code)
    failure = _failure(exc, NUMBER, retry_after)
    assert failure.kind is kind
    assert failure.retry_after_s == wait
    assert failure.code == str(code if code is not None else status)
    assert NUMBER not in failure.reason
    assert "12345678" not in failure.reason
    assert "Unable to create record" not in failure.reason


def test_the_status_callback_url_carries_our_message_id() -> None:
    config = TwilioConfig(
        "AC1", "t", from_number="+15005550006", status_callback_base="https://mmt.example.org/"
    )
    channel = TwilioSmsChannel(config)
    assert channel.capabilities.receipts
    assert (
        channel.status_callback_url("m 1")
        == "https://mmt.example.org/webhooks/twilio/status?message_id=m+1"
    )
    unconfigured = TwilioSmsChannel(TwilioConfig("AC1", "t", from_number="+15005550006"))
    assert unconfigured.status_callback_url("m1") is None
    assert not unconfigured.capabilities.receipts


def test_a_config_without_a_sender_is_refused() -> None:
    with pytest.raises(ValueError, match="TWILIO_FROM_NUMBER"):
        TwilioConfig("AC1", "t")


async def _send_through(answer: Handler, text: str = "记得来服药") -> SendResult:
    """One send to a provider that answers as `answer` does."""
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/AC1/Messages.json", answer)
    async with TestServer(app) as server:
        base = str(server.make_url("")).rstrip("/")
        config = TwilioConfig("AC1", "t", from_number="+15005550006", api_base_url=base)
        channel = TwilioSmsChannel(config)
        try:
            return await channel.send(OutboundMessage("m-1", NUMBER, text, "dose", {}))
        finally:
            await channel.aclose()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", b"<html>Gateway says hello</html>"),  # a proxy's page
        ("application/json", b'{"status": "queued"}'),  # no sid
        ("application/json", b'{"sid": 12345}'),  # a sid that is not Twilio's
        ("application/json", b""),
    ],
)
async def test_a_success_without_a_readable_sid_is_retryable(
    content_type: str, body: bytes
) -> None:
    """Whether the message was created is unknown: retried, never taken as sent."""

    async def created(_: web.Request) -> web.Response:
        return web.Response(status=201, body=body, content_type=content_type)

    with pytest.raises(SendFailed) as caught:
        await _send_through(created)
    assert (caught.value.kind, caught.value.code) == (FailureKind.RETRYABLE, "unreadable")


async def test_a_created_message_gives_its_sid_and_segments() -> None:
    async def created(_: web.Request) -> web.Response:
        return web.json_response({"sid": "SM" + "a" * 32, "status": "queued"}, status=201)

    result = await _send_through(created, "记" * 71)  # past 70 UCS-2 units: two parts
    assert (result.provider_id, result.segments) == ("SM" + "a" * 32, 2)
