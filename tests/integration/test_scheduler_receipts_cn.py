"""Aliyun's SmsReport and Tencent's status callbacks at the scheduler, on the real database:
a whole array applied by Twilio's rules, and every refusal changing nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import select, update

from services.scheduler import planner
from services.scheduler.models import Message, Outbox
from services.scheduler.settings import SchedulerSettings
from shared.db import Database
from shared.net import free_port
from shared.settings import Settings
from tests.conftest import build_service_app
from tests.integration.receiptutil import apply_waiting
from tests.integration.schedutil import clinic, context, enrol

TOKEN = "receipts-push-token-0123456789"
NOW = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
Client = AsyncTestClient[Litestar]


@pytest.fixture
async def client(app_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    monkeypatch.setenv("ALIYUN_SMS_PUSH_TOKEN", TOKEN)
    monkeypatch.setenv("TENCENT_SMS_PUSH_TOKEN", TOKEN)
    monkeypatch.setenv("SMS_PUSH_MAX_BODY_BYTES", "2048")
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as test_client:
        yield test_client


async def sent_messages(scheduler_db: Database, access_db: Database, count: int) -> list[str]:
    """`count` patients' dose reminders, sent over SMS with provider ids P0, P1, ...; each
    patient has WeChat after SMS, and the messages' windows are open."""
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    clinic_id = await clinic(access_db)
    for n in range(count):
        await enrol(
            ctx,
            clinic_id,
            f"000{n + 1}",
            channel_order=["sms", "wechat"],
            wechat_openid="o" + str(n) * 27,
        )
    await planner.release_due(scheduler_db, SchedulerSettings(), NOW)
    async with scheduler_db.transaction() as session:
        ids = list((await session.scalars(select(Message.id).order_by(Message.patient_id))).all())
        for n, message_id in enumerate(ids):
            await session.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(
                    state="sent",
                    channel="sms",
                    provider_id=f"P{n}",
                    expires_at=datetime.now(UTC) + timedelta(hours=1),
                )
            )
    return ids


async def rows(db: Database) -> list[tuple[str, str | None]]:
    async with db.sessions() as session:
        found = await session.execute(
            select(Message.state, Message.reason).order_by(Message.patient_id)
        )
    return [(state, reason) for state, reason in found]


async def resends(db: Database) -> int:
    async with db.sessions() as session:
        found = await session.scalars(select(Outbox).where(Outbox.message_name == "SendMessage"))
        return len(found.all())


def counted(provider: str, outcome: str) -> float:
    labels = {"provider": provider, "outcome": outcome}
    return REGISTRY.get_sample_value("mmt_delivery_receipts_total", labels) or 0.0


def aliyun_report(out_id: str, biz_id: str, success: bool, code: str = "DELIVERED") -> Any:
    return {
        "phone_number": "13800130001",
        "send_time": "2026-11-24 08:00:00",
        "report_time": "2026-11-24 08:00:05",
        "success": success,
        "err_code": code,
        "err_msg": "用户接收成功" if success else "失败",
        "sms_size": "1",
        "biz_id": biz_id,
        "out_id": out_id,
    }


def tencent_report(sid: str, success: bool, ext: str | None = None) -> Any:
    report = {
        "user_receive_time": "2026-11-24 08:00:05",
        "nationcode": "86",
        "mobile": "13800130001",
        "report_status": "SUCCESS" if success else "FAIL",
        "errmsg": "DELIVRD" if success else "MK:0001",
        "description": "用户短信送达成功" if success else "失败",
        "sid": sid,
    }
    return report | ({"ext": ext} if ext else {})


async def test_an_aliyun_array_is_applied_whole_by_out_id_and_biz_id(
    client: Client, scheduler_db: Database, access_db: Database, redis: Redis, isolation: str
) -> None:
    first, second, third = await sent_messages(scheduler_db, access_db, 3)
    before, queued = counted("aliyun", "unknown_message"), await resends(scheduler_db)
    push = [
        aliyun_report(first, "P0", True),
        aliyun_report("", "P1", True),  # by Aliyun's BizId alone
        aliyun_report(third, "P2", False, "MK:0001"),
        aliyun_report("no-such-message", "P9", True),
    ]
    answer = await client.post(f"/webhooks/aliyun/{TOKEN}/report", json=push)
    assert answer.status_code == 200
    assert answer.json() == {"code": 0, "msg": "接收成功"}
    assert await rows(scheduler_db) == [("sent", None)] * 3  # accepted, not yet applied
    await apply_waiting(redis, isolation, scheduler_db)
    assert await rows(scheduler_db) == [
        ("delivered", None),
        ("delivered", None),
        ("queued", "aliyun failed (error MK:0001): trying wechat"),
    ]
    assert await resends(scheduler_db) == queued + 1  # the failed one, for WeChat
    assert counted("aliyun", "unknown_message") == before + 1
    # The same push again (Aliyun retries until answered): final states stay.
    again = await client.post(f"/webhooks/aliyun/{TOKEN}/report", json=push[:2])
    assert again.status_code == 200
    await apply_waiting(redis, isolation, scheduler_db)
    assert await rows(scheduler_db) == [
        ("delivered", None),
        ("delivered", None),
        ("queued", "aliyun failed (error MK:0001): trying wechat"),
    ]
    assert second


async def test_a_tencent_array_is_applied_by_sid_and_session_context(
    client: Client, scheduler_db: Database, access_db: Database, redis: Redis, isolation: str
) -> None:
    first, _second = await sent_messages(scheduler_db, access_db, 2)
    push = [tencent_report("P0", True, ext=first), tencent_report("P1", False)]
    answer = await client.post(f"/webhooks/tencent/{TOKEN}/status", json=push)
    assert answer.status_code == 200
    assert answer.json() == {"result": 0, "errmsg": "OK"}
    await apply_waiting(redis, isolation, scheduler_db)
    assert await rows(scheduler_db) == [
        ("delivered", None),
        ("queued", "tencent failed (error MK:0001): trying wechat"),
    ]
    stranger = await client.post(
        f"/webhooks/tencent/{TOKEN}/status", json=[tencent_report("P-unknown", True)]
    )
    assert stranger.status_code == 200  # Tencent stops pushing it


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/webhooks/aliyun/not-the-token-at-all/report", "[]", 403, "wrong path token"),
        ("/webhooks/tencent/not-the-token-at-all/status", "[]", 403, "wrong path token"),
        (f"/webhooks/aliyun/{TOKEN}/report", '[{"success": tru', 400, "not JSON"),
        (f"/webhooks/tencent/{TOKEN}/status", '{"sid": "P0"}', 400, "not a Tencent status"),
        (f"/webhooks/aliyun/{TOKEN}/report", '[{"biz_id": "P0"}]', 400, "success"),
        (f"/webhooks/aliyun/{TOKEN}/report", "[" + " " * 4096 + "]", 413, "body over 2048"),
    ],
)
async def test_refused_pushes_change_nothing(
    client: Client,
    scheduler_db: Database,
    access_db: Database,
    path: str,
    body: str,
    status: int,
    says: str,
) -> None:
    await sent_messages(scheduler_db, access_db, 1)
    answer = await client.post(path, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status
    assert says in answer.json()["detail"]
    assert await rows(scheduler_db) == [("sent", None)]


async def test_an_address_outside_the_allow_list_is_refused_with_the_right_token(
    app_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    scheduler_db: Database,
    access_db: Database,
) -> None:
    monkeypatch.setenv("ALIYUN_SMS_PUSH_TOKEN", TOKEN)
    monkeypatch.setenv("ALIYUN_SMS_PUSH_CIDRS", "106.11.0.0/16, 2408:4000::/24")
    [message_id] = await sent_messages(scheduler_db, access_db, 1)
    body = json.dumps([aliyun_report(message_id, "P0", True)])
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as test_client:
        answer = await test_client.post(
            f"/webhooks/aliyun/{TOKEN}/report",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert (answer.status_code, answer.json()["detail"]) == (403, "this address may not push")
        # Tencent has no token configured here: its route is not there for anyone.
        missing = await test_client.post(f"/webhooks/tencent/{TOKEN}/status", json=[])
        assert missing.status_code == 404
        assert "TENCENT_SMS_PUSH_TOKEN" in missing.json()["detail"]
    assert await rows(scheduler_db) == [("sent", None)]


async def test_a_push_the_bus_cannot_take_is_answered_503_so_it_comes_again(
    app_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    scheduler_db: Database,
    access_db: Database,
) -> None:
    """Receipts are only accepted once Redis holds them: with Redis unreachable the vendor
    is told to push again later, rather than answered 200 for receipts nobody will apply."""
    monkeypatch.setenv("TENCENT_SMS_PUSH_TOKEN", TOKEN)
    [message_id] = await sent_messages(scheduler_db, access_db, 1)
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    settings = Settings(
        database=app_settings.database,
        bus=app_settings.bus.model_copy(update={"redis_url": nowhere}),
        service=app_settings.service,
        access=app_settings.access,
    )
    before = counted("tencent", "not_accepted")
    async with AsyncTestClient(app=build_service_app("scheduler", settings)) as test_client:
        answer = await test_client.post(
            f"/webhooks/tencent/{TOKEN}/status", json=[tencent_report("P0", True, ext=message_id)]
        )
    assert (answer.status_code, answer.json()["detail"]) == (
        503,
        "receipts cannot be accepted now",
    )
    assert counted("tencent", "not_accepted") == before + 1
    assert await rows(scheduler_db) == [("sent", None)]
