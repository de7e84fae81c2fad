"""Public URLs per service: SCHEDULER_PUBLIC_URL and FEEDBACK_PUBLIC_URL, each defaulting to
PUBLIC_BASE_URL, read where providers' signatures are checked and callbacks are asked for."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from services.feedback.webhooks import WebhookConfig
from services.scheduler.receipts import ReceiptConfig
from shared.channels.factory import build_registry
from shared.channels.settings import ChannelSettings
from shared.channels.twilio_sms import TwilioSmsChannel

GATEWAY = "https://mmt.example.org"


def test_one_gateway_serves_both_and_each_service_may_have_its_own() -> None:
    both = ChannelSettings(public_base_url=GATEWAY)
    assert (both.scheduler_url, both.feedback_url) == (GATEWAY, GATEWAY)
    own = ChannelSettings(
        public_base_url=GATEWAY,
        scheduler_public_url="http://127.0.0.1:8002",
        feedback_public_url="http://127.0.0.1:8003",
    )
    assert (own.scheduler_url, own.feedback_url) == (
        "http://127.0.0.1:8002",
        "http://127.0.0.1:8003",
    )
    partly = ChannelSettings(public_base_url=GATEWAY, feedback_public_url="https://in.example.org")
    assert (partly.scheduler_url, partly.feedback_url) == (GATEWAY, "https://in.example.org")
    assert (ChannelSettings().scheduler_url, ChannelSettings().feedback_url) == (None, None)


def test_each_service_reads_its_own_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", GATEWAY)
    monkeypatch.setenv("SCHEDULER_PUBLIC_URL", "http://127.0.0.1:8002")
    monkeypatch.setenv("FEEDBACK_PUBLIC_URL", "http://127.0.0.1:8003")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "t" * 32)
    assert ReceiptConfig.from_environment().public_url == "http://127.0.0.1:8002"
    assert WebhookConfig.from_environment(None).public_url == "http://127.0.0.1:8003"
    monkeypatch.delenv("FEEDBACK_PUBLIC_URL")
    assert WebhookConfig.from_environment(None).public_url == GATEWAY


async def test_twilio_asks_for_receipts_at_the_schedulers_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "CHANNEL_SMS": "twilio",
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": "t" * 32,
        "TWILIO_FROM_NUMBER": "+15005550006",
        "TWILIO_RATE": "none",
        "PUBLIC_BASE_URL": GATEWAY,
        "SCHEDULER_PUBLIC_URL": "https://receipts.example.org",
    }.items():
        monkeypatch.setenv(name, value)
    redis = Redis()  # never connected: building a registry talks to no one
    registry = build_registry(redis)
    sms = registry.get("sms")
    assert isinstance(sms, TwilioSmsChannel)
    assert sms.config.status_callback_base == "https://receipts.example.org"
    await registry.aclose()
    await redis.aclose()
