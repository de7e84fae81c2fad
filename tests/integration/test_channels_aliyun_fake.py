"""Aliyun SMS against its fake, beyond the shared contract: the gateway's signature checks,
flow control after 50 a day, blacklisted numbers, balance, what each becomes for the dispatcher."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from deploy.fakes.process import RunningFake, running_fake
from shared.channels import FailureKind, OutboundMessage, SendFailed
from shared.channels.aliyun_sms import AliyunSmsChannel, AliyunSmsConfig
from shared.channels.settings import AliyunSmsTemplate

KEY_ID, SECRET, SIGN = "LTAI5tFakeTest0000000001", "the-fakes-access-key-secret", "门诊提醒"
TEMPLATES = {"dose": AliyunSmsTemplate(template_code="SMS_100001", params={"time": "time"})}


def message(i: int = 1, message_id: str = "m-1") -> OutboundMessage:
    return OutboundMessage(
        message_id, f"+86139{i:08d}", "请在08:30前服药。", "dose", {"time": "08:30"}
    )


@pytest.fixture(scope="module")
def fake() -> Iterator[RunningFake]:
    with running_fake(
        "aliyun", "--access-key-id", KEY_ID, "--access-key-secret", SECRET, "--sign-name", SIGN
    ) as running:
        yield running


@pytest.fixture
async def channel(fake: RunningFake) -> AsyncIterator[AliyunSmsChannel]:
    fake.reset()
    fake.configure(templates={"SMS_100001": ["time"]})
    made = AliyunSmsChannel(AliyunSmsConfig(KEY_ID, SECRET, SIGN, TEMPLATES, fake.url))
    yield made
    await made.aclose()


async def failure(channel: AliyunSmsChannel, outbound: OutboundMessage) -> SendFailed:
    with pytest.raises(SendFailed) as caught:
        await channel.send(outbound)
    return caught.value


async def test_a_send_is_accepted_with_its_biz_id_and_segments(
    channel: AliyunSmsChannel, fake: RunningFake
) -> None:
    result = await channel.send(message())
    assert result.provider_id
    assert result.provider_id.endswith("^0")
    assert result.segments == 1
    stats = fake.stats()
    assert stats["accepted"] == {"+8613900000001": 1}
    assert stats["out_ids"] == 1


async def test_a_wrong_secret_is_a_configuration_problem(fake: RunningFake) -> None:
    fake.reset()
    wrong = AliyunSmsChannel(AliyunSmsConfig(KEY_ID, "not-the-secret", SIGN, TEMPLATES, fake.url))
    try:
        refused = await failure(wrong, message())
    finally:
        await wrong.aclose()
    assert refused.kind is FailureKind.PERMANENT
    assert refused.code == "SignatureDoesNotMatch"
    assert "configuration problem" in refused.reason
    assert fake.stats()["bad_signatures"] == 1
    assert fake.stats()["total_accepted"] == 0


async def test_an_unknown_key_is_a_configuration_problem(fake: RunningFake) -> None:
    fake.reset()
    other = AliyunSmsChannel(AliyunSmsConfig("LTAIother", SECRET, SIGN, TEMPLATES, fake.url))
    try:
        refused = await failure(other, message())
    finally:
        await other.aclose()
    assert refused.code == "InvalidAccessKeyId.NotFound"
    assert refused.kind is FailureKind.PERMANENT


async def test_a_replayed_request_is_refused(channel: AliyunSmsChannel, fake: RunningFake) -> None:
    url, headers = channel.request(message())
    async with aiohttp.ClientSession() as session:
        for expected in (200, 400):
            async with session.post(url, headers=headers) as answer:
                assert answer.status == expected
                body = await answer.json()
    assert body["Code"] == "SignatureNonceUsed"
    assert fake.stats()["total_accepted"] == 1


async def test_a_tampered_query_does_not_match_the_signature(
    channel: AliyunSmsChannel, fake: RunningFake
) -> None:
    url, headers = channel.request(message())
    tampered = url.with_query({**url.query, "PhoneNumbers": "13900000002"})
    async with (
        aiohttp.ClientSession() as session,
        session.post(tampered, headers=headers) as answer,
    ):
        assert answer.status == 400
        assert (await answer.json())["Code"] == "SignatureDoesNotMatch"
    assert fake.stats()["total_accepted"] == 0


async def test_the_fifty_first_message_of_a_day_is_flow_controlled(
    channel: AliyunSmsChannel, fake: RunningFake
) -> None:
    fake.configure(daily_cap=3)  # the same rule as 50, quicker
    for i in range(3):
        await channel.send(message(7, f"m-{i}"))
    limited = await failure(channel, message(7, "m-4"))
    assert limited.kind is FailureKind.RATE_LIMITED
    assert limited.code == "isv.BUSINESS_LIMIT_CONTROL"
    assert limited.retry_after_s == 3600
    await channel.send(message(8))  # another number is not limited
    assert fake.stats()["accepted"] == {"+8613900000007": 3, "+8613900000008": 1}


async def test_blacklisted_and_balance_refusals(
    channel: AliyunSmsChannel, fake: RunningFake
) -> None:
    fake.configure(blacklisted=["+8613900000009"])
    blacklisted = await failure(channel, message(9))
    assert blacklisted.kind is FailureKind.PERMANENT
    assert blacklisted.code == "isv.BLACK_KEY_CONTROL_LIMIT"
    fake.configure(amount_not_enough=True)
    broke = await failure(channel, message(10))
    assert broke.kind is FailureKind.PERMANENT
    assert "configuration problem" in broke.reason
    assert fake.stats()["total_accepted"] == 0


async def test_an_unapproved_template_or_missing_parameter_is_configuration(
    channel: AliyunSmsChannel, fake: RunningFake
) -> None:
    fake.configure(templates={"SMS_100001": ["time", "clinic"]})
    missing = await failure(channel, message())
    assert missing.code == "isv.TEMPLATE_MISSING_PARAMETERS"
    assert "configuration problem" in missing.reason
    fake.configure(templates={"SMS_999": []})
    unknown = await failure(channel, message())
    assert unknown.code == "isv.SMS_TEMPLATE_ILLEGAL"
    assert unknown.kind is FailureKind.PERMANENT
