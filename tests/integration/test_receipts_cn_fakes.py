"""Receipts as the vendors push them: the real Aliyun and Tencent adapters send to their
fakes (processes), which push SmsReport / status callbacks to the scheduler served on a
port; one number delivered, one undeliverable, whose message goes on to WeChat."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import update

from deploy.fakes.process import RunningFake, running_fake
from services.scheduler.models import Message
from shared.channels import Channel, OutboundMessage
from shared.channels.aliyun_sms import AliyunSmsChannel, AliyunSmsConfig
from shared.channels.settings import AliyunSmsTemplate, TencentSmsTemplate
from shared.channels.tencent_sms import TencentSmsChannel, TencentSmsConfig
from shared.db import Database
from shared.net import free_port
from shared.settings import Settings
from tests.conftest import build_service_app
from tests.integration.busutil import consume_until
from tests.integration.receiptutil import receipt_consumer
from tests.integration.test_sandbox_replies import serving
from tests.integration.test_scheduler_receipts_cn import TOKEN, rows, sent_messages

DELIVERED, UNDELIVERABLE = "+8613800130001", "+8613800130002"


@pytest.fixture(scope="module")
def scheduler_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def fakes(scheduler_port: int) -> Iterator[dict[str, RunningFake]]:
    base = f"http://127.0.0.1:{scheduler_port}/webhooks"
    common = ("--undeliverable", UNDELIVERABLE, "--callback-delay", "0.5")
    with (
        running_fake("aliyun", "--report-url", f"{base}/aliyun/{TOKEN}/report", *common) as aliyun,
        running_fake("tencent", "--status-url", f"{base}/tencent/{TOKEN}/status", *common) as tc,
    ):
        yield {"aliyun": aliyun, "tencent": tc}


def channel_for(vendor: str, fake: RunningFake) -> Channel:
    if vendor == "aliyun":
        template = AliyunSmsTemplate(template_code="SMS_1", params={"text": "text"})
        return AliyunSmsChannel(
            AliyunSmsConfig(
                access_key_id="LTAI5tFakeAccessKeyId00",
                access_key_secret="fake-access-key-secret",
                sign_name="门诊提醒",
                templates={"dose": template},
                api_base_url=fake.url,
            )
        )
    return TencentSmsChannel(
        TencentSmsConfig(
            secret_id="AKIDfake0000000000000000000000000000",
            secret_key="fake-secret-key",
            sdk_app_id="1400000000",
            sign_name="门诊提醒",
            templates={"dose": TencentSmsTemplate(template_id="1", params=["text"])},
            api_base_url=fake.url,
        )
    )


@pytest.mark.parametrize("vendor", ["aliyun", "tencent"])
async def test_the_fakes_receipts_deliver_one_and_send_the_other_to_wechat(
    vendor: str,
    fakes: dict[str, RunningFake],
    scheduler_port: int,
    scheduler_db: Database,
    access_db: Database,
    app_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    redis: Redis,
    isolation: str,
) -> None:
    monkeypatch.setenv(f"{vendor.upper()}_SMS_PUSH_TOKEN", TOKEN)
    fake = fakes[vendor]
    fake.reset()
    ids = await sent_messages(scheduler_db, access_db, 2)
    async with scheduler_db.transaction() as session:  # not sent yet: no provider id
        await session.execute(update(Message).values(provider_id=None))
    channel = channel_for(vendor, fake)
    async with serving(build_service_app("scheduler", app_settings), scheduler_port):
        try:
            for message_id, phone in zip(ids, (DELIVERED, UNDELIVERABLE), strict=True):
                sent = await channel.send(OutboundMessage(message_id, phone, "该来了", "dose"))
                # What the dispatcher records after a send: Tencent's receipt names only
                # its SerialNo, so the message must carry it when the push comes.
                async with scheduler_db.transaction() as session:
                    await session.execute(
                        update(Message)
                        .where(Message.id == message_id)
                        .values(provider_id=sent.provider_id)
                    )
        finally:
            await channel.aclose()
        expected = [
            ("delivered", None),
            ("queued", f"{vendor} failed (error MK:0001): trying wechat"),
        ]

        async def settled() -> bool:
            return await rows(scheduler_db) == expected

        # The worker's consumer applies what the route accepted, as the pushes come.
        consumer, _ = receipt_consumer(redis, isolation, scheduler_db)
        await consume_until(consumer, settled, timeout_s=15)
    assert await rows(scheduler_db) == expected
    stats = fake.stats()
    assert stats["pushes_ok"] == 2
    assert stats["accepted"] == {DELIVERED: 1, UNDELIVERABLE: 1}
