"""WeChat's scheduled pushes under the 2023 rules, against the fake WeChat: typed keyword
fields checked before sending (so WeChat's 47003 is never met), subscription notices and
43101, unknown template ids, and `client_msg_id` making a retry after a lost answer show once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from redis.asyncio import Redis

from deploy.fakes.process import RunningFake, running_fake
from services.scheduler.rendering import render
from shared.channels import FailureKind, OutboundMessage, SendFailed
from shared.channels.settings import WeChatTemplate
from shared.channels.wechat import SendMode, WeChatChannel, WeChatConfig

APP_ID, SECRET = "wxnoticetest000001", "notice-test-app-secret"
OPENID = "oNOTICETEST0000000000000001"
REFUSING = "oNOTICETEST0000000000000002"
AT = datetime(2026, 12, 3, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
LONG = "新的一课：如何在冬天睡个好觉，以及早上起床的小窍门"
TEMPLATES = {
    "dose": WeChatTemplate(
        template_id="TPL-DOSE", data={"phrase1": "title", "time2": "local_time", "thing3": "text"}
    ),
    "lesson": WeChatTemplate(
        template_id="TPL-LESSON", data={"thing1": "summary", "date2": "local_date"}
    ),
    "survey": WeChatTemplate(template_id="TPL-UNKNOWN", data={"thing1": "summary"}),
}


@pytest.fixture(scope="module")
def fake() -> Iterator[RunningFake]:
    flags = ("--refusing", REFUSING, "--template-ids", "TPL-DOSE,TPL-LESSON")
    with running_fake("wechat", "--app-id", APP_ID, "--app-secret", SECRET, *flags) as running:
        yield running


def channel_for(
    fake: RunningFake, redis: Redis, prefix: str, mode: SendMode, timeout_s: float = 10.0
) -> WeChatChannel:
    config = WeChatConfig(
        APP_ID,
        SECRET,
        api_base_url=fake.url,
        templates=TEMPLATES,
        send_mode=mode,
        timeout_s=timeout_s,
        key_prefix=prefix,
    )
    return WeChatChannel(config, redis)


@pytest.fixture(params=["template", "subscribe"])
async def channel(
    request: pytest.FixtureRequest, fake: RunningFake, redis: Redis, isolation: str
) -> AsyncIterator[WeChatChannel]:
    fake.reset()
    made = channel_for(fake, redis, isolation, request.param)
    yield made
    await made.aclose()


def message(
    kind: str, message_id: str = "m-1", openid: str = OPENID, **extra: Any
) -> OutboundMessage:
    rendered = render(kind, "zh-CN", explicit=False, name="L.W.", local=AT, **extra)
    return OutboundMessage(message_id, openid, rendered.text, kind, rendered.fields)


def lesson(message_id: str = "m-lesson") -> OutboundMessage:
    link = "https://mmt.example.org/l/t0k"
    return message("lesson", message_id, lesson_notification=LONG, link=link)


def cards(fake: RunningFake) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = fake._call("GET", "/_fake/cards")
    return shown


async def test_a_patient_sees_every_keyword_field_and_a_long_one_cut(
    fake: RunningFake, channel: WeChatChannel
) -> None:
    assert (await channel.send(message("dose"))).provider_id
    assert (await channel.send(lesson())).provider_id
    dose, taught = cards(fake)
    way = channel.config.send_mode
    assert (dose["way"], dose["template_id"]) == (way, "TPL-DOSE")
    assert dose["fields"] == {
        "phrase1": "今日提醒",
        "time2": "2026年12月3日 08:30",
        "thing3": "L.W.，今天记得按时来门诊。",
    }
    cut = "新的一课：如何在冬天睡个好觉，以及早上…"
    assert taught["fields"] == {"thing1": cut, "date2": "2026年12月3日"}
    assert taught["url"] == "https://mmt.example.org/l/t0k"  # url, or the notice's page
    stats = fake.stats()
    assert stats.get("invalid_fields", 0) == 0  # nothing WeChat would refuse was sent
    assert stats.get("fields_not_shown", 0) == stats.get("empty_cards", 0) == 0


async def test_a_value_that_cannot_keep_its_rule_is_refused_before_sending(
    fake: RunningFake, channel: WeChatChannel
) -> None:
    english = render("dose", "en", explicit=False, name="L.W.", local=AT)
    sent = OutboundMessage("m-en", OPENID, english.text, "dose", english.fields)
    with pytest.raises(SendFailed) as caught:
        await channel.send(sent)
    assert caught.value.kind is FailureKind.PERMANENT
    assert caught.value.code == "field_rule"
    assert "phrase1 (phrase: at most 5 Chinese characters)" in caught.value.reason
    stats = fake.stats()
    assert stats.get("requests", 0) == 0  # WeChat was never asked: no 47003
    assert cards(fake) == []


async def test_the_fake_refuses_what_wechat_refuses(fake: RunningFake) -> None:
    """Without our checks, WeChat (here its fake) answers 47003 naming the field."""
    fake.reset()
    async with aiohttp.ClientSession() as http:
        query = {"grant_type": "client_credential", "appid": APP_ID, "secret": SECRET}
        async with http.get(f"{fake.url}/cgi-bin/token", params=query) as answer:
            token = (await answer.json())["access_token"]
        for path in ("template/send", "subscribe/bizsend"):
            data = {"thing1": {"value": LONG}}
            body = {"touser": OPENID, "template_id": "TPL-DOSE", "data": data}
            url = f"{fake.url}/cgi-bin/message/{path}"
            async with http.post(url, params={"access_token": token}, json=body) as answer:
                assert await answer.json() == {
                    "errcode": 47003,
                    "errmsg": "argument invalid! data.thing1.value invalid rid: fake",
                }
    assert fake.stats()["invalid_fields"] == 2


async def test_an_unknown_template_id_is_permanent(channel: WeChatChannel) -> None:
    with pytest.raises(SendFailed) as caught:
        await channel.send(message("survey", survey_text="这周过得怎么样？"))
    assert (caught.value.kind, caught.value.code) == (FailureKind.PERMANENT, "40037")


async def test_a_refused_subscription_is_permanent_with_its_reason(
    fake: RunningFake, redis: Redis, isolation: str
) -> None:
    fake.reset()
    notices = channel_for(fake, redis, isolation, "subscribe")
    try:
        with pytest.raises(SendFailed) as caught:
            await notices.send(message("dose", openid=REFUSING))
    finally:
        await notices.aclose()
    assert (caught.value.kind, caught.value.code) == (FailureKind.PERMANENT, "43101")
    assert caught.value.reason == (
        "wechat 43101: the patient refused or cancelled the subscription notices"
    )
    assert REFUSING not in caught.value.reason
    assert fake.stats()["subscription_refused"] == 1


async def test_a_retry_after_a_lost_answer_is_shown_once(
    fake: RunningFake, redis: Redis, isolation: str
) -> None:
    fake.reset()
    fake.configure(slow_answer_ms=1500)  # WeChat takes the send; its answer comes too late
    hasty = channel_for(fake, redis, isolation, "template", timeout_s=0.5)
    await hasty.tokens.get()  # the token first, so the timeout falls on the send
    try:
        with pytest.raises(SendFailed) as caught:
            await hasty.send(message("dose", "m-lost"))
        assert caught.value.kind is FailureKind.RETRYABLE  # the dispatcher will retry
        fake.configure(slow_answer_ms=0)
        again = await hasty.send(message("dose", "m-lost"))  # the retry, same message id
    finally:
        await hasty.aclose()
    assert again.provider_id
    stats = fake.stats()
    assert stats["accepted"] == {OPENID: 1}  # shown once
    assert stats["duplicates_dropped"] == 1
    assert [card["msgid"] for card in cards(fake)] == [int(again.provider_id)]


async def test_client_msg_id_is_remembered_ten_minutes_only(
    fake: RunningFake, redis: Redis, isolation: str
) -> None:
    fake.reset()
    fake.configure(dedupe_s=0.3)  # WeChat's 10 minutes, shortened
    sender = channel_for(fake, redis, isolation, "template")
    try:
        first = await sender.send(message("dose", "m-same"))
        again = await sender.send(message("dose", "m-same"))
        await asyncio.sleep(0.4)
        later = await sender.send(message("dose", "m-same"))
    finally:
        await sender.aclose()
    assert first.provider_id == again.provider_id != later.provider_id
    assert fake.stats()["accepted"] == {OPENID: 2}
