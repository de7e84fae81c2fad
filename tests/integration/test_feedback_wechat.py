"""The WeChat server URL on the real database: verification, text messages (accepted with
"success", handled and answered by the worker as customer-service messages), follow
events, binding scans, safe mode, and XML bombs refused with nothing stored."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from services.feedback.models import InboundMessage, Need
from services.feedback.wechat import SafeMode, parse_xml, signature
from shared.access.clinics import ClinicIn, create_clinic
from shared.crypto import IdentifierCipher, IdentifierSettings
from shared.db import Database
from shared.messages import PatientEnrolled
from shared.settings import Settings
from tests.conftest import build_service_app
from tests.integration.inboundutil import Replies
from tests.integration.test_feedback_inbound import events, handle

TOKEN, APP_ID = "wechat-server-token", "wx2c2769f8efd9abc2"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPENID, STRANGER = "o" + "w" * 27, "o" + "s" * 27
Client = AsyncTestClient[Litestar]


@pytest.fixture
async def client(
    feedback_db: Database,
    access_db: Database,
    app_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Client]:
    monkeypatch.setenv("WECHAT_SERVER_TOKEN", TOKEN)
    monkeypatch.setenv("WECHAT_ENCODING_AES_KEY", AES_KEY)
    monkeypatch.setenv("WECHAT_APP_ID", APP_ID)
    clinic = await create_clinic(
        access_db, ClinicIn(code="YX", name="Yuxi", help_phone="0877 2012345")
    )
    cipher = IdentifierCipher.from_settings(IdentifierSettings())
    await handle(
        feedback_db,
        PatientEnrolled(
            patient_id=3,
            clinic_id=clinic.id,
            phone_hash=None,
            openid_hash=cipher.lookup_hash(OPENID),
            language="zh-CN",
            study_arm=None,
        ),
    )
    async with AsyncTestClient(app=build_service_app("feedback", app_settings)) as test_client:
        yield test_client


def signed(**extra: str) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), secrets.token_hex(8)  # a fresh nonce per call
    return {
        "timestamp": timestamp,
        "nonce": nonce,
        "signature": signature(TOKEN, timestamp, nonce),
        **extra,
    }


def text_xml(content: str, msg_id: str, sender: str = OPENID) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[{sender}]]>"
        f"</FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def event_xml(event: str, key: str = "", sender: str = OPENID) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[{sender}]]>"
        f"</FromUserName><CreateTime>1700000001</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>"
    ).encode()


async def post(client: Client, body: bytes, params: dict[str, str] | None = None) -> Any:
    return await client.post(
        "/webhooks/wechat",
        content=body,
        params=params or signed(),
        headers={"Content-Type": "text/xml"},
    )


async def accepted(client: Client, body: bytes, params: dict[str, str] | None = None) -> None:
    response = await post(client, body, params)
    assert (response.status_code, response.text) == (200, "success")


async def answers(replies: Replies) -> list[tuple[str, str]]:
    """Every answer the worker sent so far (after settling): (openid, text)."""
    await replies.settle()
    return [(m.address, m.text) for m in replies.wechat.sent]


async def stored(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(InboundMessage)) or 0)


async def test_server_verification_echoes_only_when_signed(client: Client) -> None:
    good = await client.get("/webhooks/wechat", params=signed(echostr="shr5ch"))
    assert (good.status_code, good.text) == (200, "shr5ch")
    bad = await client.get(
        "/webhooks/wechat", params={**signed(echostr="x"), "signature": "0" * 40}
    )
    assert bad.status_code == 403


async def test_plain_text_message_is_answered_by_the_worker(
    client: Client, feedback_db: Database, replies: Replies
) -> None:
    await accepted(client, text_xml("我想死", "1001"))
    assert await stored(feedback_db) == 0  # accepted only
    answer = await replies.answer("1001", "wechat")
    assert answer is not None
    assert "120" in answer
    assert "+868772012345" in answer
    assert [m.address for m in replies.wechat.sent] == [OPENID]
    assert replies.wechat.sent[0].reply_window_open  # a customer-service message
    assert [e.tag() for e in await events(feedback_db)] == [
        "NeedRaised.v1",
        "UrgentNeedRaised.v1",
        "ReplyReceived.v1",  # engagement, for a study's analysis file
        "WeChatMessageReceived.v1",  # opens the 48-hour free-text window
    ]
    await accepted(client, text_xml("我想死", "1001"))  # WeChat retries after 5 s
    assert await replies.answer("1001", "wechat") == answer  # answered once
    assert await stored(feedback_db) == 1


async def test_bad_signature_and_strangers_store_nothing(
    client: Client, feedback_db: Database, replies: Replies
) -> None:
    forged = await post(client, text_xml("退订", "1002"), {**signed(), "signature": "f" * 40})
    assert forged.status_code == 403
    assert await replies.settle() == 0  # nothing enqueued
    await accepted(client, text_xml("退订", "1003", sender=STRANGER))
    assert "请联系您的门诊" in str(await replies.answer("1003", "wechat"))
    assert await stored(feedback_db) == 0
    assert await events(feedback_db) == []


BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b"<xml><FromUserName>" + OPENID.encode() + b"</FromUserName><MsgType>text</MsgType>"
    b"<Content>&lol3;</Content><MsgId>1004</MsgId></xml>"
)


async def test_a_signed_url_is_good_for_one_body_and_five_minutes(
    client: Client, feedback_db: Database, replies: Replies
) -> None:
    old = str(int(time.time()) - 3600)
    stale = {"timestamp": old, "nonce": "1", "signature": signature(TOKEN, old, "1")}
    refused = await post(client, text_xml("退订", "2001"), stale)
    assert refused.status_code == 403
    assert "300 s" in refused.text
    fresh = signed()
    assert (await post(client, text_xml("4", "2002"), fresh)).status_code == 200
    retried = await post(client, text_xml("4", "2002"), fresh)  # WeChat's own retry
    assert retried.status_code == 200
    replayed = await post(client, text_xml("退订", "2003"), fresh)  # same URL, other body
    assert replayed.status_code == 403
    assert "already used" in replayed.text
    await replies.settle()
    async with feedback_db.sessions() as session:
        kinds = (await session.execute(select(InboundMessage.kind))).scalars().all()
    assert kinds == ["rating"]  # the retry de-duplicated by MsgId, the replay refused


async def test_xml_bombs_are_refused_and_the_service_stays_healthy(
    client: Client, feedback_db: Database, replies: Replies
) -> None:
    assert (await post(client, BOMB)).status_code == 400
    xxe = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>'
    assert (await post(client, xxe)).status_code == 400
    assert (await post(client, b"x" * 100_000)).status_code == 413
    assert await replies.settle() == 0
    assert await stored(feedback_db) == 0
    assert (await client.get("/health")).status_code == 200
    assert (await post(client, text_xml("4", "1005"))).status_code == 200


async def test_follow_events_and_binding_scans(
    client: Client, feedback_db: Database, replies: Replies
) -> None:
    await accepted(client, event_xml("subscribe"))
    [(to, welcome)] = await answers(replies)
    assert (to, "欢迎" in welcome) == (OPENID, True)
    await accepted(client, event_xml("unsubscribe"))
    assert len(await answers(replies)) == 1  # an unsubscribe is not answered
    async with feedback_db.sessions() as session:
        kinds = (
            await session.execute(select(InboundMessage.kind).order_by(InboundMessage.id))
        ).scalars()
        assert list(kinds) == ["subscribe", "unsubscribe"]
    await accepted(client, event_xml("subscribe", "qrscene_bind:CODE123", sender=STRANGER))
    assert [to for to, _ in await answers(replies)] == [OPENID, STRANGER]
    [event] = await events(feedback_db)
    cipher = IdentifierCipher.from_settings(IdentifierSettings())
    assert event.tag() == "ChannelBound.v1"
    assert event.binding_code == "CODE123"  # type: ignore[attr-defined]
    assert cipher.decrypt(event.openid_encrypted) == STRANGER  # type: ignore[attr-defined]
    assert STRANGER not in str(event)


async def test_safe_mode_decrypts_and_the_answer_follows(
    client: Client, feedback_db: Database, replies: Replies
) -> None:
    safe = SafeMode(TOKEN, AES_KEY, APP_ID)
    params = signed(encrypt_type="aes")
    envelope = safe.encrypt(text_xml("帮助", "1006").decode(), params["nonce"], params["timestamp"])
    fields = parse_xml(envelope.encode())
    body = (
        "<xml><ToUserName><![CDATA[gh_account]]></ToUserName>"
        f"<Encrypt><![CDATA[{fields['Encrypt']}]]></Encrypt></xml>"
    )
    params["msg_signature"] = fields["MsgSignature"]
    await accepted(client, body.encode(), params)
    assert "+868772012345" in str(await replies.answer("1006", "wechat"))
    params["msg_signature"] = "0" * 40
    assert (await post(client, body.encode(), params)).status_code == 403
    async with feedback_db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Need)) == 0
