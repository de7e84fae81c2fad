"""The channel contract: the same behaviour tests against every adapter, through its fake.

Each adapter talks real HTTP to its fake provider (`deploy/fakes/`, started as processes once
for the module); knobs are set per test through the fake's `/_fake/config`. Behaviours an
adapter's provider does not have (WeChat has no opt-out; the console has no provider) are
not generated for it: each such test names the adapters it applies to.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from redis.asyncio import Redis

from deploy.fakes.process import RunningFake, running_fake
from shared.channels import Channel, Delivery, FailureKind, OutboundMessage, SendFailed
from shared.channels.aliyun_sms import AliyunSmsChannel, AliyunSmsConfig
from shared.channels.console import ConsoleChannel
from shared.channels.settings import AliyunSmsTemplate, TencentSmsTemplate, WeChatTemplate
from shared.channels.tencent_sms import TencentSmsChannel, TencentSmsConfig
from shared.channels.twilio_sms import TwilioConfig, TwilioSmsChannel
from shared.channels.webhook import WebhookChannel, WebhookConfig
from shared.channels.wechat import WeChatChannel, WeChatConfig
from shared.net import free_port

ADAPTERS = [
    "twilio_sms",
    "wechat",
    "wechat_subscribe",
    "webhook",
    "tencent_sms",
    "aliyun_sms",
    "console",
]
TWILIO_SID, TWILIO_TOKEN = "AC" + "1" * 32, "contract-auth-token"
WECHAT_ID, WECHAT_SECRET = "wxcontract00000001", "contract-app-secret"
WEBHOOK_SECRET = "contract-webhook-secret-0123456789abcdef"
ALIYUN_ID, ALIYUN_SECRET = "LTAI5tContract0000000001", "contract-access-key-secret"
ALIYUN_SIGN = "门诊提醒"
TENCENT_ID, TENCENT_KEY = "AKIDcontract000000000000000000000001", "contract-secret-key"
TENCENT_APP, TENCENT_SIGN = "1400000001", "门诊提醒"


def phone(i: int) -> str:
    return f"+86139{i:08d}"


def openid(i: int) -> str:
    return f"oCONTRACT{i:019d}"  # 28 characters, like WeChat's


@dataclass
class Fakes:
    twilio: RunningFake
    wechat: RunningFake
    webhook: RunningFake
    tencent: RunningFake
    aliyun: RunningFake | None = None

    def aliyun_fake(self) -> RunningFake:
        assert self.aliyun is not None
        return self.aliyun


@dataclass
class Harness:
    name: str
    channel: Channel
    fake: RunningFake | None
    address: Callable[[int], str]
    opted_out: str | None  # an address the provider reports as unsubscribed, if it can
    bad: str | None  # an address the provider refuses (and quotes back in its error)

    def message(self, address: str, message_id: str = "m-1") -> OutboundMessage:
        text = "今天记得按时来门诊。"
        return OutboundMessage(message_id, address, text, "dose", {"first": text})

    def needs_fake(self) -> RunningFake:
        assert self.fake is not None, f"{self.name} has no provider to misbehave"
        return self.fake


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with (
        running_fake("twilio", "--account-sid", TWILIO_SID, "--auth-token", TWILIO_TOKEN) as tw,
        running_fake("wechat", "--app-id", WECHAT_ID, "--app-secret", WECHAT_SECRET) as wx,
        running_fake("webhook", "--secret", WEBHOOK_SECRET) as wh,
        running_fake(
            "aliyun",
            *("--access-key-id", ALIYUN_ID, "--access-key-secret", ALIYUN_SECRET),
            *("--sign-name", ALIYUN_SIGN),
        ) as al,
        running_fake(
            "tencent",
            *("--secret-id", TENCENT_ID, "--secret-key", TENCENT_KEY),
            *("--sdk-app-id", TENCENT_APP, "--sign-name", TENCENT_SIGN),
        ) as tc,
    ):
        yield Fakes(tw, wx, wh, tc, aliyun=al)


def build(name: str, fakes: Fakes, redis: Redis, prefix: str, base: str | None = None) -> Harness:
    """The adapter under test; `base` points it elsewhere (a closed port) instead of its fake."""
    if name == "twilio_sms":
        fakes.twilio.reset()
        fakes.twilio.configure(opted_out=[phone(9001)], invalid=[phone(9002)])
        config = TwilioConfig(
            TWILIO_SID,
            TWILIO_TOKEN,
            from_number="+15005550006",
            api_base_url=base or fakes.twilio.url,
        )
        return Harness(
            name, TwilioSmsChannel(config), fakes.twilio, phone, phone(9001), phone(9002)
        )
    if name in ("wechat", "wechat_subscribe"):
        fakes.wechat.reset()
        fakes.wechat.configure(invalid=[openid(9002)])
        config_wx = WeChatConfig(
            WECHAT_ID,
            WECHAT_SECRET,
            api_base_url=base or fakes.wechat.url,
            # `first`: the message field holding this harness's text (a keyword's source).
            templates={"dose": WeChatTemplate(template_id="TPL-DOSE", data={"thing1": "first"})},
            send_mode="subscribe" if name == "wechat_subscribe" else "template",
            key_prefix=prefix,
        )
        channel = WeChatChannel(config_wx, redis)
        return Harness(name, channel, fakes.wechat, openid, None, openid(9002))
    if name == "webhook":
        fakes.webhook.reset()
        fakes.webhook.configure(opted_out=[phone(9001)], refused=[phone(9002)])
        config_wh = WebhookConfig(f"{base or fakes.webhook.url}/mmt", WEBHOOK_SECRET)
        return Harness(
            name, WebhookChannel(config_wh), fakes.webhook, phone, phone(9001), phone(9002)
        )
    if name == "tencent_sms":
        fakes.tencent.reset()
        fakes.tencent.configure(invalid=[phone(9002)])
        config_tc = TencentSmsConfig(
            TENCENT_ID,
            TENCENT_KEY,
            sdk_app_id=TENCENT_APP,
            sign_name=TENCENT_SIGN,
            templates={"dose": TencentSmsTemplate(template_id="100001", params=["first"])},
            api_base_url=base or fakes.tencent.url,
        )
        # Tencent has no opt-out answer at send time (unsubscribing is a reply, 退订).
        return Harness(name, TencentSmsChannel(config_tc), fakes.tencent, phone, None, phone(9002))
    if name == "aliyun_sms":
        fakes.aliyun_fake().reset()
        fakes.aliyun_fake().configure(templates={"SMS_100001": ["content"]}, illegal=[phone(9002)])
        config_al = AliyunSmsConfig(
            ALIYUN_ID,
            ALIYUN_SECRET,
            ALIYUN_SIGN,
            {"dose": AliyunSmsTemplate(template_code="SMS_100001", params={"content": "first"})},
            api_base_url=base or fakes.aliyun_fake().url,
        )
        # Aliyun has no opt-out answer at send time (unsubscribing is a reply, 退订/TD).
        return Harness(
            name, AliyunSmsChannel(config_al), fakes.aliyun_fake(), phone, None, phone(9002)
        )
    return Harness(name, ConsoleChannel("console"), None, phone, None, None)


# Behaviours only a real provider has (the console has none; WeChat, Tencent SMS and Aliyun
# SMS have no opt-out at send time).
PROVIDERS = [name for name in ADAPTERS if name != "console"]
NO_OPT_OUT = ("wechat", "wechat_subscribe", "tencent_sms", "aliyun_sms")  # 43101 is not one
WITH_OPT_OUT = [name for name in PROVIDERS if name not in NO_OPT_OUT]
with_provider = pytest.mark.parametrize("harness", PROVIDERS, indirect=True)


@pytest.fixture(params=ADAPTERS)
async def harness(
    request: pytest.FixtureRequest, fakes: Fakes, redis: Redis, isolation: str
) -> AsyncIterator[Harness]:
    built = build(request.param, fakes, redis, isolation)
    yield built
    await built.channel.aclose()


async def failure_of(harness: Harness, address: str) -> SendFailed:
    with pytest.raises(SendFailed) as caught:
        await harness.channel.send(harness.message(address))
    return caught.value


async def test_a_send_returns_the_providers_id(harness: Harness) -> None:
    result = await harness.channel.send(harness.message(harness.address(1)))
    assert result.state in (Delivery.SENT, Delivery.DELIVERED)
    assert result.provider_id
    if harness.fake is not None:
        assert harness.fake.stats()["accepted"] == {harness.address(1): 1}


@with_provider
async def test_a_server_error_is_retryable(harness: Harness) -> None:
    harness.needs_fake().configure(error_rate=1.0)
    failure = await failure_of(harness, harness.address(2))
    assert failure.kind is FailureKind.RETRYABLE


@with_provider
async def test_too_many_requests_is_rate_limited_with_its_retry_after(harness: Harness) -> None:
    harness.needs_fake().configure(rate_limit_rate=1.0, retry_after_s=7)
    failure = await failure_of(harness, harness.address(3))
    assert failure.kind is FailureKind.RATE_LIMITED
    assert failure.retry_after_s == 7


@pytest.mark.parametrize("harness", WITH_OPT_OUT, indirect=True)
async def test_an_unsubscribed_recipient_is_opted_out(harness: Harness) -> None:
    harness.needs_fake()
    assert harness.opted_out is not None
    failure = await failure_of(harness, harness.opted_out)
    assert failure.kind is FailureKind.OPTED_OUT
    assert harness.fake is not None
    assert harness.fake.stats()["total_accepted"] == 0


@with_provider
async def test_a_refused_request_is_permanent_and_its_reason_names_no_recipient(
    harness: Harness,
) -> None:
    harness.needs_fake()
    assert harness.bad is not None
    failure = await failure_of(harness, harness.bad)
    assert failure.kind is FailureKind.PERMANENT
    assert failure.code
    assert harness.bad not in failure.reason
    assert harness.bad[-8:] not in failure.reason  # not even its tail
    assert not re.search(r"\d{7,}", failure.reason)


@with_provider
async def test_an_unreachable_provider_is_retryable(
    harness: Harness, fakes: Fakes, redis: Redis, isolation: str
) -> None:
    harness.needs_fake()
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    unreachable = build(harness.name, fakes, redis, isolation, base=closed)
    try:
        failure = await failure_of(unreachable, unreachable.address(4))
    finally:
        await unreachable.channel.aclose()
    assert failure.kind is FailureKind.RETRYABLE


async def test_two_hundred_sends_fifty_in_flight_all_arrive_once(harness: Harness) -> None:
    if harness.fake is not None:
        harness.fake.configure(latency_ms=20)  # so that fifty really are in flight together
    in_flight = asyncio.Semaphore(50)
    peak = 0
    active = 0

    async def send(i: int) -> None:
        nonlocal peak, active
        async with in_flight:
            active += 1
            peak = max(peak, active)
            try:
                message = harness.message(harness.address(i), message_id=f"m-{i}")
                result = await harness.channel.send(message)
                assert result.provider_id
            finally:
                active -= 1

    await asyncio.wait_for(asyncio.gather(*(send(i) for i in range(200))), timeout=60)
    assert peak <= 50
    if harness.fake is not None:
        assert peak == 50  # the provider's latency kept fifty in flight at once
        stats = harness.fake.stats()
        assert stats["total_accepted"] == 200
        assert stats["duplicates"] == {}
        assert set(stats["accepted"]) == {harness.address(i) for i in range(200)}


# A provider that misbehaves: slow, garbled, throttling without saying for how long.


def shortened(harness: Harness, timeout_s: float) -> Harness:
    """The adapter with a shorter whole-request timeout than its default ten seconds. Set
    before the first send: every adapter opens its HTTP session lazily, from `config`."""
    channel: Any = harness.channel
    channel.config = replace(channel.config, timeout_s=timeout_s)
    return harness


@with_provider
async def test_a_provider_slower_than_the_timeout_is_retryable(harness: Harness) -> None:
    harness.needs_fake().configure(latency_ms=3000)
    assert harness.bad is not None
    # An address the fake refuses: its late answer, still on its way after this test has
    # ended, then counts nothing the next test reads.
    failure = await failure_of(shortened(harness, 0.3), harness.bad)
    assert failure.kind is FailureKind.RETRYABLE
    assert failure.code == "network"
    assert "timed out" in failure.reason


@with_provider
async def test_a_garbled_answer_is_retryable_never_counted_as_sent(harness: Harness) -> None:
    """A 200 whose body is an HTML page (a proxy's, a captive portal's) is not the provider's
    answer: whether it has the message is unknown. Every adapter retries rather than count it
    sent: a rare duplicate (WeChat even drops it by client_msg_id) beats a lost dose."""
    harness.needs_fake().configure(garbage_rate=1.0)
    failure = await failure_of(harness, harness.address(6))
    assert failure.kind is FailureKind.RETRYABLE
    assert failure.code == "unreadable"
    assert harness.needs_fake().stats()["garbage"] >= 1


@with_provider
async def test_too_many_requests_without_retry_after_leaves_the_wait_to_the_dispatcher(
    harness: Harness,
) -> None:
    """No Retry-After: the adapter invents no wait, and the dispatcher's own backoff applies
    (services/scheduler/dispatch/single.py `_retry`): 10 s after the first attempt, doubling
    to at most 300 s, each times a jitter of 1 to 1.5."""
    harness.needs_fake().configure(rate_limit_rate=1.0, retry_after_s=None)
    failure = await failure_of(harness, harness.address(7))
    assert failure.kind is FailureKind.RATE_LIMITED
    assert failure.retry_after_s is None


@pytest.mark.parametrize("harness", ["tencent_sms", "aliyun_sms"], indirect=True)
async def test_the_providers_daily_limit_for_a_number_is_slow_down_not_permanent(
    harness: Harness,
) -> None:
    """Tencent answers it inside a 200, Aliyun as isv.BUSINESS_LIMIT_CONTROL: the number is
    fine, only today is spent (shared/channels/daily_cap.py keeps the suite below it)."""
    harness.needs_fake().configure(daily_cap=1)
    first = harness.message(harness.address(8))
    await harness.channel.send(first)
    other = "明天也记得按时来门诊。"  # other content: Tencent's 30-second repeat rule aside
    with pytest.raises(SendFailed) as caught:
        await harness.channel.send(
            replace(first, message_id="m-2", text=other, fields={"first": other})
        )
    assert caught.value.kind is FailureKind.RATE_LIMITED
    assert caught.value.retry_after_s
    assert caught.value.retry_after_s > 0
