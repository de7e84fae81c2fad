"""Patients' replies on the real database: the read model, Twilio's signed inbound SMS
(accepted with an empty TwiML, handled by the worker), events in the outbox, the answers
sent by SMS, and what is never stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from services.feedback.models import InboundMessage, LastLesson, Need, Outbox, Sender
from services.feedback.readmodel import store_last_lesson, store_sender
from shared.bus import decode
from shared.db import Database
from shared.messages import LessonSent, Message, PatientEnrolled, PatientUpdated, ReplyReceived
from tests.integration.inboundutil import Replies

TOKEN = "feedback-test-twilio-token"
BASE = "https://mmt.test"
PHONE, STRANGER = "+8613800138000", "+8613900139999"
Client = AsyncTestClient[Litestar]
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def handle(db: Database, *events: Message) -> None:
    for event in events:
        async with db.transaction() as session:
            if isinstance(event, LessonSent):
                await store_last_lesson(event, session)
            else:
                assert isinstance(event, PatientEnrolled | PatientUpdated)
                await store_sender(event, session)


async def sms(client: Client, body: str, sid: str, sender: str = PHONE, token: str = TOKEN) -> Any:
    params = {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": sid}
    signature = RequestValidator(token).compute_signature(f"{BASE}/webhooks/twilio/sms", params)
    return await client.post(
        "/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": signature}
    )


async def said(client: Client, replies: Replies, body: str, sid: str, sender: str = PHONE) -> str:
    """A signed SMS accepted, then handled by the worker: its answer ("" for none)."""
    response = await sms(client, body, sid, sender)
    assert response.status_code == 200, response.text
    return await replies.answer(sid) or ""


async def events(db: Database) -> list[Message]:
    async with db.sessions() as session:
        rows = (await session.execute(select(Outbox).order_by(Outbox.seq))).scalars().all()
    return [decode({"m": row.payload}) for row in rows]


async def count(db: Database, model: type[Any]) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_read_model_follows_events_and_ignores_older_ones(
    feedback_db: Database, world: tuple[int, int]
) -> None:
    clinic_id, pid = world
    now = datetime.now(UTC)
    newer = PatientUpdated(
        patient_id=pid,
        clinic_id=clinic_id,
        phone_hash="h-new",
        openid_hash=None,
        language="zh-CN",
        study_arm="control",
        state="paused",
        opted_out=True,
        occurred_at=now + timedelta(seconds=5),
    )
    older = PatientUpdated(
        patient_id=pid,
        clinic_id=clinic_id,
        phone_hash="h-old",
        openid_hash=None,
        language="en",
        study_arm="control",
        state="active",
        opted_out=False,
        occurred_at=now,
    )
    await handle(feedback_db, newer, older)
    async with feedback_db.sessions() as session:
        sender = await session.get_one(Sender, pid)
        last = await session.get_one(LastLesson, pid)
    assert (sender.phone_hash, sender.state, sender.opted_out, sender.language) == (
        "h-new",
        "paused",
        True,
        "zh-CN",
    )
    assert (last.track, last.lesson_key) == ("core", "why-daily")


async def test_signed_sms_rating_is_stored_announced_and_thanked(
    client: Client, feedback_db: Database, world: tuple[int, int], replies: Replies
) -> None:
    clinic_id, pid = world
    response = await sms(client, " ４ ", "SM1")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text == EMPTY_TWIML  # accepted; the worker answers
    assert await count(feedback_db, InboundMessage) == 0
    assert await replies.answer("SM1") == "Thank you for your rating!"
    [event] = await events(feedback_db)
    assert event.tag() == "RatingGiven.v1"
    assert (event.patient_id, event.clinic_id, event.rating) == (pid, clinic_id, 4)  # type: ignore[attr-defined]
    assert (event.track, event.lesson_key) == ("core", "why-daily")  # type: ignore[attr-defined]
    async with feedback_db.sessions() as session:
        row = (await session.execute(select(InboundMessage))).scalar_one()
    assert (row.kind, row.rating, row.text, row.channel) == ("rating", 4, None, "sms")
    assert row.answer == "sent"

    again = await sms(client, " ４ ", "SM1")  # Twilio retries: nothing twice
    assert again.status_code == 200
    assert await replies.answer("SM1") == "Thank you for your rating!"  # still one answer
    assert await count(feedback_db, InboundMessage) == 1
    assert len(await events(feedback_db)) == 1


async def test_bad_signature_is_refused_and_nothing_is_stored(
    client: Client, feedback_db: Database, replies: Replies
) -> None:
    forged = await sms(client, "STOP", "SM2", token="not-the-token")
    unsigned = await client.post(
        "/webhooks/twilio/sms", data={"From": PHONE, "Body": "STOP", "MessageSid": "SM3"}
    )
    assert (forged.status_code, unsigned.status_code) == (403, 403)
    assert await replies.settle() == 0  # nothing was enqueued
    assert await count(feedback_db, InboundMessage) == 0
    assert await events(feedback_db) == []


async def test_unknown_sender_gets_a_polite_reply_and_is_only_counted(
    client: Client, feedback_db: Database, replies: Replies
) -> None:
    def unknown() -> float:
        value = REGISTRY.get_sample_value(
            "mmt_feedback_inbound_total", {"channel": "sms", "outcome": "unknown_sender"}
        )
        return value or 0.0

    before = unknown()
    response = await sms(client, "I need help with money 想死", "SM4", sender=STRANGER)
    assert response.status_code == 200
    answer = await replies.answer("SM4")
    assert answer is not None
    assert "contact your clinic" in answer
    assert [m.address for m in replies.sms.sent] == [STRANGER]
    assert unknown() == before + 1
    await sms(client, "I need help with money 想死", "SM4", sender=STRANGER)  # a retry
    assert await replies.answer("SM4") == answer  # answered once
    assert await count(feedback_db, InboundMessage) == 0
    assert await count(feedback_db, Need) == 0
    assert await events(feedback_db) == []


async def test_stop_opts_out_once_and_start_opts_back_in(
    client: Client, feedback_db: Database, world: tuple[int, int], replies: Replies
) -> None:
    _, pid = world
    await sms(client, "stop", "SM5")
    await sms(client, "ＳＴＯＰ", "SM6")
    assert "unsubscribed" in str(await replies.answer("SM5"))
    assert await replies.answer("SM6") is None  # confirmed once only
    assert [e.tag() for e in await events(feedback_db)] == ["OptOutRequested.v1"]
    await sms(client, "Start", "SM7")
    assert "subscribed again" in str(await replies.answer("SM7"))
    tags = [e.tag() for e in await events(feedback_db)]
    assert tags == ["OptOutRequested.v1", "OptInRequested.v1"]
    assert all(e.patient_id == pid for e in await events(feedback_db))  # type: ignore[attr-defined]


async def test_help_names_the_clinic_phone_and_record_is_requested(
    client: Client, feedback_db: Database, replies: Replies
) -> None:
    await sms(client, "HELP", "SM8")
    await sms(client, "record", "SM9")
    assert "+868772012345" in str(await replies.answer("SM8"))
    assert "record will be sent" in str(await replies.answer("SM9"))
    found = await events(feedback_db)
    tags = [e.tag() for e in found]
    assert tags == ["ReplyReceived.v1", "RecordRequested.v1", "ReplyReceived.v1"]
    # Engagement for a study's analysis file: the kind, never the words.
    assert [e.reply_kind for e in found if isinstance(e, ReplyReceived)] == ["help", "record"]


async def test_needs_are_stored_with_their_text_and_urgent_ones_escalated(
    client: Client, feedback_db: Database, world: tuple[int, int], replies: Replies
) -> None:
    clinic_id, pid = world
    await sms(client, "Can I talk to a counsellor about my wife?", "SM10")
    await sms(client, "I took too much, overdose", "SM11")
    await sms(client, "我想跳河", "SM12")  # FEEDBACK_URGENT_WORDS_EXTRA
    assert "Clinic staff will contact you" in str(await replies.answer("SM10"))
    urgent = str(await replies.answer("SM11"))
    assert "call 120 now" in urgent
    assert "+868772012345" in urgent
    assert "120" in str(await replies.answer("SM12"))
    found = await events(feedback_db)
    assert [e.tag() for e in found] == [
        "NeedRaised.v1",
        "ReplyReceived.v1",
        "NeedRaised.v1",
        "UrgentNeedRaised.v1",
        "ReplyReceived.v1",
        "NeedRaised.v1",
        "UrgentNeedRaised.v1",
        "ReplyReceived.v1",
    ]
    replied = [e for e in found if isinstance(e, ReplyReceived)]
    assert {(e.patient_id, e.clinic_id, e.reply_kind) for e in replied} == {
        (pid, clinic_id, "need")
    }
    assert [(e.urgent, e.category) for e in found if e.tag() == "NeedRaised.v1"] == [  # type: ignore[attr-defined]
        (False, "counselling"),
        (True, "medical"),
        (True, "other"),
    ]
    payloads = " ".join(str(e) for e in found)
    assert "overdose" not in payloads
    assert "counsellor" not in payloads
    async with feedback_db.sessions() as session:
        needs = (await session.execute(select(Need).order_by(Need.id))).scalars().all()
        texts = (
            await session.execute(select(InboundMessage.text).order_by(InboundMessage.id))
        ).scalars()
    assert [n.status for n in needs] == ["new", "new", "new"]
    assert {(n.patient_id, n.clinic_id) for n in needs} == {(pid, clinic_id)}
    assert next(iter(texts)) == "Can I talk to a counsellor about my wife?"
