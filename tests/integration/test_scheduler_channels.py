"""The dispatcher on a real adapter (Twilio's SDK against the fake provider) and the
signed delivery-receipt route that completes a message."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from deploy.fakes.process import RunningFake, running_fake
from services.scheduler.binding import bind_channel
from services.scheduler.dispatch import Dispatcher
from services.scheduler.models import Message, Patient
from shared.channels import ChannelRegistry
from shared.channels.twilio_sms import TwilioConfig, TwilioSmsChannel
from shared.db import Database
from shared.messages import ChannelBound
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.receiptutil import apply_waiting
from tests.integration.schedutil import clinic, context, dispatch_due, due_now, enrol

SID, TOKEN = "AC" + "0" * 32, "twilio-test-token"
PUBLIC = "https://mmt.example.org"


@pytest.fixture(scope="module")
def fake_twilio() -> Iterator[RunningFake]:
    with running_fake("twilio", "--account-sid", SID, "--auth-token", TOKEN) as fake:
        yield fake


@pytest.mark.usefixtures("secrets_env")
async def test_a_reminder_goes_out_through_twilio_and_its_receipt_completes_it(
    scheduler_db: Database,
    access_db: Database,
    fake_twilio: RunningFake,
    app_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    redis: Redis,
    isolation: str,
) -> None:
    ctx = context(scheduler_db, access_db)
    yx = await clinic(access_db)
    patient = await enrol(ctx, yx, "0001")
    now = datetime.now(UTC)
    due_id = await due_now(scheduler_db, patient.id, now)
    sms = TwilioSmsChannel(
        TwilioConfig(SID, TOKEN, from_number="+15005550006", api_base_url=fake_twilio.url)
    )
    dispatcher = Dispatcher(scheduler_db, ctx.cipher, ChannelRegistry([sms]), None)
    await dispatch_due(scheduler_db, dispatcher, now)
    await sms.aclose()
    async with scheduler_db.sessions() as session:
        message = (
            await session.execute(select(Message).where(Message.occurrence_id == due_id))
        ).scalar_one()
    assert (message.state, message.channel) == ("sent", "sms"), message.reason
    assert message.provider_id
    assert message.provider_id.startswith("SM")
    assert fake_twilio.stats()["accepted"] == {"+8613800130001": 1}

    # Twilio's receipt, signed as Twilio signs it, at the public URL it was given.
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC)
    path = f"/webhooks/twilio/status?message_id={message.id}"
    form = {"MessageSid": message.provider_id, "MessageStatus": "delivered", "AccountSid": SID}
    good = RequestValidator(TOKEN).compute_signature(PUBLIC + path, form)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        forged = await client.post(
            path, content=urlencode(form), headers={**headers, "X-Twilio-Signature": "bm9wZQ=="}
        )
        assert forged.status_code == 403
        unsigned = await client.post(path, content=urlencode(form), headers=headers)
        assert unsigned.status_code == 403
        async with scheduler_db.sessions() as session:
            assert (await session.get(Message, message.id)).state == "sent"  # type: ignore[union-attr]
        ok = await client.post(
            path, content=urlencode(form), headers={**headers, "X-Twilio-Signature": good}
        )
        assert ok.status_code == 200
        stranger_path = "/webhooks/twilio/status"
        stranger = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"}
        signed = RequestValidator(TOKEN).compute_signature(PUBLIC + stranger_path, stranger)
        unknown = await client.post(
            stranger_path,
            content=urlencode(stranger),
            headers={**headers, "X-Twilio-Signature": signed},
        )
        assert unknown.status_code == 200  # so Twilio stops retrying; counted, nothing changed
        broken = {"AccountSid": SID}
        signed = RequestValidator(TOKEN).compute_signature(PUBLIC + stranger_path, broken)
        malformed = await client.post(
            stranger_path,
            content=urlencode(broken),
            headers={**headers, "X-Twilio-Signature": signed},
        )
        assert malformed.status_code == 400
    await apply_waiting(redis, isolation, scheduler_db)  # the worker applies what was accepted
    async with scheduler_db.sessions() as session:
        assert (await session.get(Message, message.id)).state == "delivered"  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def fake_wechat() -> Iterator[RunningFake]:
    with running_fake(
        "wechat", "--app-id", "wxbindingtest000001", "--app-secret", "s3cret"
    ) as fake:
        yield fake


async def test_a_qr_code_binds_the_patients_wechat_once(
    scheduler_db: Database,
    access_db: Database,
    fake_wechat: RunningFake,
    app_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    make_token: TokenFactory,
) -> None:
    for name, value in {
        "CHANNEL_WECHAT": "wechat",
        "WECHAT_APP_ID": "wxbindingtest000001",
        "WECHAT_APP_SECRET": "s3cret",
        "WECHAT_API_BASE_URL": fake_wechat.url,
        "WECHAT_TEMPLATES": '{"dose": {"template_id": "t", "data": {"thing1": "title"}}}',
    }.items():
        monkeypatch.setenv(name, value)
    ctx = context(scheduler_db, access_db)
    yx = await clinic(access_db)
    patient = await enrol(ctx, yx, "0001")
    admin = {"Authorization": f"Bearer {await make_token('admin')}"}
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        made = await client.post(f"/api/v1/patients/{patient.id}/wechat-binding", headers=admin)
    assert made.status_code == 201, made.text
    binding = made.json()
    assert binding["qr_ticket"].startswith("gQ")
    assert binding["scene"] == f"bind:{binding['code']}"
    assert fake_wechat.stats()["qrcodes"] == 1

    openid = "o" + "Q" * 27
    cipher = ctx.require_cipher()
    bound = ChannelBound(
        binding_code=binding["scene"],
        openid_encrypted=cipher.encrypt(openid),
        openid_hash=cipher.lookup_hash(openid),
    )
    async with scheduler_db.transaction() as session:
        await bind_channel(bound, session)
    again = ChannelBound(
        binding_code=binding["scene"],
        openid_encrypted=cipher.encrypt("o" + "Z" * 27),
        openid_hash=cipher.lookup_hash("o" + "Z" * 27),
    )
    async with scheduler_db.transaction() as session:
        await bind_channel(again, session)  # a used code binds nothing
    async with scheduler_db.sessions() as session:
        row = await session.get(Patient, patient.id)
    assert row is not None
    assert row.channel_order == ["wechat", "sms"]
    assert row.openid_hash == cipher.lookup_hash(openid)
