"""Twilio beyond the contract: signed status callbacks end to end, senders, credentials."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from deploy.fakes.process import RunningFake, running_fake
from shared.channels import FailureKind, OutboundMessage, ReceiptState, SendFailed
from shared.channels.twilio_sms import STATUS_PATH, TwilioConfig, TwilioSmsChannel
from shared.net import free_port

SID, TOKEN = "AC" + "2" * 32, "twilio-test-auth-token"


@dataclass
class Receiver:
    """Stands in for the scheduler's webhook route: records what Twilio posts."""

    base: str
    calls: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 2

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        params = {key: str(value) for key, value in form.items()}
        # The URL exactly as Twilio called it: the public base, the path and the query.
        url = self.base + request.path_qs
        self.calls.append((url, params, dict(request.headers)))
        if len(self.calls) >= self.expected:
            self.arrived.set()
        return web.Response(status=204)


@pytest.fixture(scope="module")
def fake() -> Iterator[RunningFake]:
    flags = ["--account-sid", SID, "--auth-token", TOKEN, "--callback-delay", "0.05"]
    with running_fake("twilio", *flags) as running:
        yield running


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    found = Receiver(f"http://127.0.0.1:{port}")
    app = web.Application()
    app.router.add_post(STATUS_PATH, found.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield found
    await runner.cleanup()


def channel_for(
    fake: RunningFake, receiver: Receiver | None = None, **changes: str
) -> TwilioSmsChannel:
    fake.reset()
    settings = {
        "account_sid": SID,
        "auth_token": TOKEN,
        "from_number": "+15005550006",
        "api_base_url": fake.url,
        **changes,
    }
    return TwilioSmsChannel(
        TwilioConfig(**settings, status_callback_base=receiver.base if receiver else None)
    )


def message(address: str, message_id: str = "m-cb") -> OutboundMessage:
    return OutboundMessage(message_id, address, "今天记得按时来门诊。", "dose")


async def test_status_callbacks_arrive_signed_and_parse(
    fake: RunningFake, receiver: Receiver
) -> None:
    channel = channel_for(fake, receiver)
    try:
        result = await channel.send(message("+8613900000001"))
        await asyncio.wait_for(receiver.arrived.wait(), timeout=10)
    finally:
        await channel.aclose()
    assert result.segments == 1
    updates = []
    for url, params, headers in receiver.calls:
        assert channel.verify_status_callback(url, params, headers)
        updates.append(channel.parse_status_callback(params, message_id="m-cb"))
    assert [u.state for u in updates if u] == [ReceiptState.SENT, ReceiptState.DELIVERED]
    assert all(u and u.provider_id == result.provider_id for u in updates)
    url, params, headers = receiver.calls[-1]
    assert "message_id=m-cb" in url
    tampered = {**params, "MessageStatus": "failed"}
    assert not channel.verify_status_callback(url, tampered, headers)
    assert not channel.verify_status_callback(url.replace("m-cb", "m-other"), params, headers)


async def test_an_undeliverable_number_reports_its_error_code(
    fake: RunningFake, receiver: Receiver
) -> None:
    channel = channel_for(fake, receiver)
    fake.configure(undeliverable=["+8613900000002"])
    try:
        await channel.send(message("+8613900000002"))
        await asyncio.wait_for(receiver.arrived.wait(), timeout=10)
    finally:
        await channel.aclose()
    final = channel.parse_status_callback(receiver.calls[-1][1])
    assert final is not None
    assert final.state is ReceiptState.UNDELIVERED
    assert final.error_code == "30003"


async def test_a_messaging_service_can_send_instead_of_a_number(fake: RunningFake) -> None:
    channel = channel_for(fake, messaging_service_sid="MG" + "3" * 32)
    try:
        result = await channel.send(message("+8613900000003"))
    finally:
        await channel.aclose()
    assert result.provider_id
    assert result.provider_id.startswith("SM")
    assert fake.stats()["accepted"] == {"+8613900000003": 1}


async def test_wrong_credentials_are_permanent_and_not_quoted(fake: RunningFake) -> None:
    channel = channel_for(fake, auth_token="not-the-token")
    try:
        with pytest.raises(SendFailed) as caught:
            await channel.send(message("+8613900000004"))
    finally:
        await channel.aclose()
    assert caught.value.kind is FailureKind.PERMANENT
    assert caught.value.code == "20003"
    assert "not-the-token" not in caught.value.reason
