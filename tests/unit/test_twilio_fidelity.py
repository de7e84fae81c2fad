"""The Twilio channel posts exactly what the official SDK's `messages.create` posts."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import encode_basic_auth
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from shared.channels.base import OutboundMessage
from shared.channels.twilio_sms import TwilioConfig, TwilioSmsChannel, encode_form

SID, TOKEN = "AC" + "12" * 16, "token"


class Recording(HttpClient):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), is_async=False)
        self.calls: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> Response:
        self.calls.append({"method": method, "url": url, **kwargs})
        return Response(201, '{"sid": "SM1"}')


@pytest.mark.parametrize(
    ("sender", "callback"),
    [
        ({"from_number": "+15005550006"}, "https://mmt.example.org"),
        ({"messaging_service_sid": "MG" + "3" * 32}, None),
    ],
)
def test_same_url_headers_and_form_as_the_sdk(sender: dict[str, str], callback: str | None) -> None:
    config = TwilioConfig(
        account_sid=SID,
        auth_token=TOKEN,
        status_callback_base=callback,
        api_base_url="http://127.0.0.1:9",
        **sender,
    )
    channel = TwilioSmsChannel(config)
    message = OutboundMessage("m-1", "+8613800138000", "请按时服药 & 来门诊", "dose", {})

    recording = Recording()
    sdk = Client(SID, TOKEN, http_client=recording)
    sdk.api.base_url = "http://127.0.0.1:9"
    sdk.messages.create(
        to=message.address,
        body=message.text,
        status_callback=channel.status_callback_url("m-1") or "",
        from_=config.from_number or "",
        messaging_service_sid=config.messaging_service_sid or "",
    )
    call = recording.calls[0]
    endpoint = channel._endpoint
    assert call["method"] == "POST"
    assert call["url"] == endpoint.url
    sent = {k: v for k, v in call["data"].items() if v}
    assert encode_form(channel.form(message)) == urlencode(sent).encode()
    assert channel.encoded(message) == urlencode(sent).encode()  # what `send` posts
    expected = {**call["headers"], "Authorization": encode_basic_auth(*call["auth"])}
    assert endpoint.headers == expected


@pytest.mark.parametrize("callback", ["https://mmt.example.org/", "http://127.0.0.1:8000", None])
@pytest.mark.parametrize("message_id", ["0f8c7c8e-5b1e-4c1a-9d55-3c2b1a0e9f77", "m 1/&=ä"])
def test_the_form_sent_is_the_form_built_field_by_field(
    callback: str | None, message_id: str
) -> None:
    channel = TwilioSmsChannel(
        TwilioConfig(SID, TOKEN, from_number="+1 500 555 0006", status_callback_base=callback)
    )
    message = OutboundMessage(message_id, "+8613800138000", "今天 8:00 请来 + 服药?", "dose", {})
    assert channel.encoded(message) == encode_form(channel.form(message))
