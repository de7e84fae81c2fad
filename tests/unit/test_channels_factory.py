"""Channel settings and the registry factory: what each environment builds or refuses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from shared.channels import (
    Delivery,
    OutboundMessage,
    SendResult,
    capabilities_of,
    status_callbacks_of,
)
from shared.channels.aliyun_sms import AliyunSmsChannel
from shared.channels.console import ConsoleChannel
from shared.channels.daily_cap import DailyCappedChannel
from shared.channels.factory import ChannelConfigurationError, build_registry, check_config
from shared.channels.pacing import PacedChannel
from shared.channels.settings import CHANNEL_SETTINGS_CLASSES, ChannelsConfig, TwilioSettings
from shared.channels.twilio_sms import TwilioSmsChannel
from shared.channels.webhook import WebhookChannel
from shared.channels.wechat import WeChatChannel

TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "4" * 32,
    "TWILIO_AUTH_TOKEN": "the-auth-token-value",
    "TWILIO_FROM_NUMBER": "+15005550006",
}
WECHAT = {
    "WECHAT_APP_ID": "wx1234567890abcdef",
    "WECHAT_APP_SECRET": "the-app-secret-value",
    "WECHAT_TEMPLATES": json.dumps(
        {
            "dose": {"template_id": "TPL1", "data": {"thing1": "title", "time2": "local_time"}},
            "lesson": {"template_id": "TPL2", "data": {"thing1": "summary"}},
        }
    ),
}
WEBHOOK = {"WEBHOOK_URL": "https://relay.example.org/mmt", "WEBHOOK_SECRET": "s" * 40}
ALIYUN = {
    "ALIYUN_ACCESS_KEY_ID": "LTAI5tFactory000000000001",
    "ALIYUN_ACCESS_KEY_SECRET": "the-access-key-secret",
    "ALIYUN_SMS_SIGN_NAME": "门诊提醒",
    "ALIYUN_SMS_TEMPLATES": json.dumps(
        {"dose": {"template_code": "SMS_100001", "params": {"time": "time"}}}
    ),
}
ALL_VARIABLES = [
    *TWILIO,
    *WECHAT,
    *WEBHOOK,
    *ALIYUN,
    "ALIYUN_SMS_RATE",
    "TWILIO_MESSAGING_SERVICE_SID",
    "CHANNEL_SMS",
    "CHANNEL_WECHAT",
    "TWILIO_RATE",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis()  # never connected: building a registry talks to no one
    yield client
    await client.aclose()


def setenv(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


async def test_with_nothing_configured_every_code_is_the_console(redis: Redis) -> None:
    registry = build_registry(redis)
    assert registry.codes == ["sms", "wechat", "webhook"]
    assert all(isinstance(registry.get(code), ConsoleChannel) for code in registry.codes)
    await registry.aclose()


async def test_configured_vendors_serve_their_codes(
    monkeypatch: pytest.MonkeyPatch, redis: Redis
) -> None:
    setenv(
        monkeypatch, CHANNEL_SMS="twilio", CHANNEL_WECHAT="wechat", **TWILIO, **WECHAT, **WEBHOOK
    )
    registry = build_registry(redis, key_prefix="t")
    sms = registry.get("sms")
    assert isinstance(sms, PacedChannel)  # TWILIO_RATE defaults to a long code's 1/second
    assert isinstance(sms.inner, TwilioSmsChannel)
    assert status_callbacks_of(sms) is sms.inner  # the webhook route finds the verifier
    assert capabilities_of(sms).receipts is False  # PUBLIC_BASE_URL is unset
    assert status_callbacks_of(registry.get("wechat")) is None
    wechat = registry.get("wechat")
    assert isinstance(wechat, WeChatChannel)  # WECHAT_RATE is empty: not paced
    assert set(wechat.config.templates) == {"dose", "lesson"}
    assert capabilities_of(wechat).reply_window_hours == 48
    assert isinstance(registry.get("webhook"), WebhookChannel)
    await registry.aclose()


async def test_sms_can_go_through_the_webhook(
    monkeypatch: pytest.MonkeyPatch, redis: Redis
) -> None:
    setenv(monkeypatch, CHANNEL_SMS="webhook", **WEBHOOK)
    registry = build_registry(redis)
    sms = registry.get("sms")
    assert isinstance(sms, WebhookChannel)
    assert sms.code == "sms"
    await registry.aclose()


async def test_sms_can_go_through_aliyun(monkeypatch: pytest.MonkeyPatch, redis: Redis) -> None:
    setenv(monkeypatch, CHANNEL_SMS="aliyun", **ALIYUN)
    registry = build_registry(redis)
    capped = registry.get("sms")
    assert isinstance(capped, DailyCappedChannel)  # 40 a number and day by default
    assert capped.cap.cap == 40
    sms = capped.inner
    assert isinstance(sms, AliyunSmsChannel)  # ALIYUN_SMS_RATE is empty: not paced
    assert sms.config.sign_name == "门诊提醒"
    assert sms.config.templates["dose"].params == {"time": "time"}
    assert capabilities_of(sms).templated is True
    await registry.aclose()
    setenv(monkeypatch, ALIYUN_SMS_RATE="50/second")
    registry = build_registry(redis, key_prefix="t")
    capped = registry.get("sms")
    assert isinstance(capped, DailyCappedChannel)
    paced = capped.inner
    assert isinstance(paced, PacedChannel)  # inside the cap: a refused send takes no slot
    assert isinstance(paced.inner, AliyunSmsChannel)
    await registry.aclose()


@pytest.mark.parametrize(
    ("env", "needed"),
    [
        ({"CHANNEL_SMS": "twilio"}, "CHANNEL_SMS=twilio needs TWILIO_AUTH_TOKEN"),
        (
            {"CHANNEL_SMS": "twilio", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "x"},
            "needs TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID",
        ),
        ({"CHANNEL_WECHAT": "wechat", **WECHAT, "WECHAT_TEMPLATES": "{}"}, "WECHAT_TEMPLATES"),
        (
            {
                **WECHAT,
                "WECHAT_TEMPLATES": '{"dose": {"template_id": "T", "data": {"first": "title"}}}',
            },
            "WECHAT_TEMPLATES dose field first: WeChat no longer shows first or remark",
        ),
        (
            {
                **WECHAT,
                "WECHAT_TEMPLATES": '{"dose": {"template_id": "T", "data": {"phrase1": "text"}}}',
            },
            "WECHAT_TEMPLATES dose field phrase1: source 'text' cannot keep the rule of a phrase",
        ),
        ({"CHANNEL_SMS": "webhook"}, "CHANNEL_SMS=webhook needs WEBHOOK_SECRET"),
        ({"TWILIO_ACCOUNT_SID": "AC1"}, "twilio is half-configured: set TWILIO_AUTH_TOKEN"),
        ({"WECHAT_APP_SECRET": "x"}, "wechat is half-configured: set WECHAT_APP_ID"),
        ({"WEBHOOK_URL": "https://x.example.org"}, "half-configured: set WEBHOOK_SECRET"),
        ({**WEBHOOK, "WEBHOOK_SECRET": "short"}, "WEBHOOK_SECRET must be at least 32"),
        ({**TWILIO, "TWILIO_RATE": "fast"}, "TWILIO_RATE: not a rate"),
        ({"CHANNEL_SMS": "aliyun"}, "CHANNEL_SMS=aliyun needs ALIYUN_ACCESS_KEY_SECRET"),
        (
            {"CHANNEL_SMS": "aliyun", **ALIYUN, "ALIYUN_SMS_TEMPLATES": "{}"},
            "CHANNEL_SMS=aliyun needs ALIYUN_SMS_TEMPLATES",
        ),
        ({"ALIYUN_ACCESS_KEY_ID": "LTAI1"}, "aliyun is half-configured: set ALIYUN_SMS_SIGN_NAME"),
        ({**ALIYUN, "ALIYUN_SMS_RATE": "fast"}, "ALIYUN_SMS_RATE: not a rate"),
    ],
)
async def test_incomplete_vendors_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, redis: Redis, env: dict[str, str], needed: str
) -> None:
    setenv(monkeypatch, **env)
    with pytest.raises(ChannelConfigurationError, match=needed):
        build_registry(redis)
    assert any(needed in problem for problem in check_config(ChannelsConfig()))


def test_an_unknown_adapter_is_a_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANNEL_SMS", "carrier-pigeon")
    with pytest.raises(ValidationError, match="channel_sms"):
        ChannelsConfig()


def test_secrets_stay_out_of_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, **TWILIO, **WECHAT, **WEBHOOK)
    config = ChannelsConfig()
    shown = repr(config.twilio) + repr(config.wechat) + repr(config.webhook) + str(config.twilio)
    for secret in ("the-auth-token-value", "the-app-secret-value", "s" * 40):
        assert secret not in shown
    assert TwilioSettings().twilio_auth_token is not None


def test_every_channel_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for cls in CHANNEL_SETTINGS_CLASSES:
        for name, field in cls.model_fields.items():
            assert f"`{name.upper()}`" in readme, f"{name.upper()} missing from README"
            assert field.description, f"{name} has no description"


def test_the_port_stays_compatible_with_its_existing_users() -> None:
    message = OutboundMessage("m", "+8613812345678", "text", "dose", {"first": "text"})
    assert message.reply_window_open is False
    assert SendResult(Delivery.SENT, "p").segments is None
    assert capabilities_of(ConsoleChannel()).receipts is False
