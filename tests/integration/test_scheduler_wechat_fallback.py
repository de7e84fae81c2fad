"""The dispatcher on the real WeChat adapter (against the fake WeChat) and real PostgreSQL:
a patient who refused the subscription notices (43101), or a field WeChat would refuse, is
reached on their next channel, with WeChat's reason recorded on the attempt."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from deploy.fakes.process import RunningFake, running_fake
from services.scheduler.models import Attempt, Message
from shared.channels import ChannelRegistry
from shared.channels.console import ConsoleChannel
from shared.channels.settings import WeChatTemplate
from shared.channels.wechat import SendMode, WeChatChannel, WeChatConfig
from shared.db import Database
from tests.integration.schedutil import dispatch_one

APP_ID, SECRET = "wxfallbacktest0001", "fallback-test-app-secret"
REFUSING = "oFALLBACK000000000000000001"
FOLLOWING = "oFALLBACK000000000000000002"
ZONE = ZoneInfo("Asia/Shanghai")  # the test clinic's
DOSE = WeChatTemplate(
    template_id="TPL-DOSE", data={"phrase1": "title", "time2": "local_time", "thing3": "text"}
)


@pytest.fixture(scope="module")
def fake_wechat() -> Iterator[RunningFake]:
    flags = ("--app-id", APP_ID, "--app-secret", SECRET, "--refusing", REFUSING)
    with running_fake("wechat", *flags) as fake:
        yield fake


@pytest.fixture
async def registry(
    request: pytest.FixtureRequest, fake_wechat: RunningFake, redis: Redis, isolation: str
) -> AsyncIterator[ChannelRegistry]:
    mode: SendMode = getattr(request, "param", "subscribe")
    fake_wechat.reset()
    config = WeChatConfig(
        APP_ID,
        SECRET,
        api_base_url=fake_wechat.url,
        templates={"dose": DOSE},
        send_mode=mode,
        key_prefix=isolation,
    )
    channels = ChannelRegistry([WeChatChannel(config, redis), ConsoleChannel("sms")])
    yield channels
    await channels.aclose()


async def dispatched(
    scheduler_db: Database,
    access_db: Database,
    registry: ChannelRegistry,
    openid: str,
    **patient: str,
) -> tuple[Message, list[Attempt]]:
    return await dispatch_one(
        scheduler_db,
        access_db,
        registry,
        wechat_openid=openid,
        channel_order=["wechat", "sms"],
        **patient,
    )


@pytest.mark.usefixtures("secrets_env")
async def test_a_refused_subscription_falls_back_to_the_next_channel(
    scheduler_db: Database,
    access_db: Database,
    registry: ChannelRegistry,
    fake_wechat: RunningFake,
) -> None:
    message, attempts = await dispatched(scheduler_db, access_db, registry, REFUSING)
    assert (message.state, message.channel) == ("delivered", "sms"), message.reason
    assert [(a.channel, a.outcome) for a in attempts] == [
        ("wechat", "permanent"),
        ("sms", "delivered"),
    ]
    assert attempts[0].error == (
        "wechat 43101: the patient refused or cancelled the subscription notices"
    )
    assert fake_wechat.stats()["subscription_refused"] == 1


@pytest.mark.usefixtures("secrets_env")
async def test_a_subscribed_patient_gets_the_notice_with_its_fields(
    scheduler_db: Database,
    access_db: Database,
    registry: ChannelRegistry,
    fake_wechat: RunningFake,
) -> None:
    message, attempts = await dispatched(scheduler_db, access_db, registry, FOLLOWING)
    assert (message.state, message.channel) == ("sent", "wechat"), message.reason
    assert [(a.channel, a.outcome) for a in attempts] == [("wechat", "sent")]
    [card] = fake_wechat._call("GET", "/_fake/cards")
    assert card["way"] == "subscribe"
    fields = card["fields"]
    assert fields["phrase1"] == "今日提醒"
    assert fields["thing3"].startswith("L.W.")
    # The patient's own clock (the clinic's Asia/Shanghai), not UTC.
    local = datetime.now(UTC).astimezone(ZONE)
    assert fields["time2"].startswith(f"{local.year}年{local.month}月{local.day}日 ")


@pytest.mark.usefixtures("secrets_env")
@pytest.mark.parametrize("registry", ["template"], indirect=True)
async def test_a_field_wechat_would_refuse_falls_back_without_calling_wechat(
    scheduler_db: Database,
    access_db: Database,
    registry: ChannelRegistry,
    fake_wechat: RunningFake,
) -> None:
    # An English title cannot be a phrase (Chinese characters only): refused before sending.
    message, attempts = await dispatched(
        scheduler_db, access_db, registry, FOLLOWING, language="en"
    )
    assert (message.state, message.channel) == ("delivered", "sms"), message.reason
    assert attempts[0].channel == "wechat"
    assert attempts[0].outcome == "permanent"
    assert attempts[0].error == (
        "wechat: the dose template's phrase1 (phrase: at most 5 Chinese characters)"
    )
    assert fake_wechat.stats().get("requests", 0) == 0  # no 47003 met: never sent
