"""The feedback worker handles a batch set-based (`inbound_lookups.Prefetched`): what batching
could break, on the real database and Redis. A sender's messages in one batch are applied
in order (a survey answer, then the next question), two senders' interleaved messages each
keep theirs, a duplicate inside one batch and across batches is stored and answered once,
a bad row fails alone and is dead-lettered without losing the rest of its batch, and two
workers handling the same batch at once (a lease lost mid-batch) apply each message once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from services.feedback.inbound_partitions import MAX_DELIVERIES, drain
from services.feedback.inbound_stream import GROUP, partition_of, partition_stream, sealed
from services.feedback.models import InboundMessage, Need, Outbox, Sender, SurveyAnswer
from services.feedback.surveys import start
from services.feedback.surveys.definitions import BUILT_IN, YUXI_EVALUATION
from shared.access.clinics import ClinicIn, create_clinic
from shared.bus import BusKeys, add_to_outbox, list_dead_letters
from shared.crypto import IdentifierCipher, IdentifierSettings
from shared.db import Database
from shared.messages import (
    InboundReceived,
    NeedRaised,
    OptInRequested,
    OptOutRequested,
    PatientEnrolled,
    RatingGiven,
    SurveyRequested,
    UrgentNeedRaised,
)
from tests.integration.inboundutil import Replies
from tests.integration.test_feedback_inbound import PHONE, events, handle
from tests.integration.test_feedback_inbound_worker import (  # noqa: F401 (fixtures)
    enqueue,
    keys,
    rows,
    senders,
)

Enqueue = Callable[..., Awaitable[None]]


@dataclass
class Stream:
    """The partition streams as the webhooks fill them and the worker reads them."""

    enqueue: Enqueue
    replies: Replies
    redis: Redis
    keys: BusKeys

    async def settle(self) -> list[int]:
        """Handle everything waiting, as the worker does; returns the size of each batch."""
        sizes: list[int] = []

        async def handle(batch: Sequence[InboundReceived]) -> None:
            sizes.append(len(batch))
            await self.replies.handler().handle(batch)

        await drain(self.redis, self.keys, handle)
        return sizes


@pytest.fixture
def stream(
    enqueue: Enqueue,  # noqa: F811
    replies: Replies,
    redis: Redis,
    keys: BusKeys,  # noqa: F811
    world: tuple[int, int],
) -> Stream:
    return Stream(enqueue, replies, redis, keys)


def answers_to(replies: Replies, phone: str) -> list[str]:
    return [m.text for m in replies.sms.sent if m.address == phone]


SAID = {  # a few words of each English answer, and what it answers
    "unsubscribed": "stop",
    "subscribed again": "start",
    "Clinic staff will contact you": "need",
    "+868772012345": "help",
    "Thank you for your rating!": "rating",
    "number from 1 to 5": "out of range",
    "Thank you for your answers!": "survey done",
}


def said_to(replies: Replies, phone: str) -> list[str]:
    """What each answer to `phone` was, in the order sent."""
    return [
        next((kind for words, kind in SAID.items() if words in text), text)
        for text in answers_to(replies, phone)
    ]


async def test_one_senders_survey_answers_in_one_batch_each_ask_the_next_question(
    feedback_db: Database, world: tuple[int, int], stream: Stream, replies: Replies
) -> None:
    _, pid = world
    async with feedback_db.transaction() as session:
        sender = await session.get(Sender, pid)
        assert sender is not None
        asked_at = datetime.now(UTC) - timedelta(minutes=1)
        run, first = await start(
            session, sender, BUILT_IN[YUXI_EVALUATION], started_by="test", now=asked_at
        )
        add_to_outbox(session, Outbox, first)
    # Five answers (one out of range), then a rating once the survey is done: one batch.
    words = ["2", "7", "5", "3", "1", "4", "5"]
    await stream.enqueue(*((PHONE, word, f"SM-s{i}") for i, word in enumerate(words)))
    assert await stream.settle() == [len(words)]

    async with feedback_db.sessions() as session:
        answered = (await session.execute(select(SurveyAnswer).order_by(SurveyAnswer.id))).scalars()
        assert [(a.question_key, a.value) for a in answered] == [
            ("usage", 2),
            ("helpful", 5),
            ("frequency", 3),
            ("motivation", 1),
            ("recommend", 4),
        ]
        kinds = (
            await session.execute(select(InboundMessage.kind).order_by(InboundMessage.id))
        ).scalars()
        assert list(kinds) == ["survey_answer", "survey_invalid"] + ["survey_answer"] * 4 + [
            "rating"
        ]
    found = await events(feedback_db)
    assert [e.question_key for e in found if isinstance(e, SurveyRequested)] == [
        "usage",
        "helpful",
        "frequency",
        "motivation",
        "recommend",
    ]
    assert all(e.run_id == run.id for e in found if isinstance(e, SurveyRequested))
    # The last word rates the lesson the patient was sent, as any rating after a survey.
    assert [(e.rating, e.lesson_key) for e in found if isinstance(e, RatingGiven)] == [
        (5, "why-daily")
    ]
    # The questions themselves go out through the scheduler (SurveyRequested).
    assert said_to(replies, PHONE) == ["out of range", "survey done", "rating"]


async def test_two_senders_interleaved_in_one_batch_each_keep_their_order(
    feedback_db: Database, world: tuple[int, int], replies: Replies
) -> None:
    clinic_id, pid = world
    cipher = IdentifierCipher.from_settings(IdentifierSettings())
    # A second patient on the same partition as the first, so both are in one batch.
    partition = partition_of(cipher.lookup_hash(PHONE))
    phones = (f"+8613700137{n:03d}" for n in range(1000))
    other = next(p for p in phones if partition_of(cipher.lookup_hash(p)) == partition)
    async with feedback_db.transaction() as session:
        session.add(
            Sender(
                patient_id=8,
                clinic_id=clinic_id,
                phone_hash=cipher.lookup_hash(other),
                language="en",
                state="active",
                opted_out=False,
                as_of=datetime.now(UTC),
            )
        )
    script = [
        (PHONE, "STOP", "SM-a1"),
        (other, "5", "SM-b1"),
        (PHONE, "START", "SM-a2"),
        (other, "STOP", "SM-b2"),
        (PHONE, "I cannot pay the bus to the clinic", "SM-a3"),
        (other, "START", "SM-b3"),
        (PHONE, "HELP", "SM-a4"),
        (other, "I cannot sleep at night", "SM-b4"),
        (PHONE, "STOP", "SM-a5"),
        (other, "STOP", "SM-b5"),
    ]
    appended = [
        sealed(cipher, channel="sms", provider="twilio", provider_id=s, address=a, text=t)
        for a, t, s in script
    ]
    await replies.handler().handle(appended)  # as the worker does with one batch

    stored = await rows(feedback_db)
    assert [sid for _, sid, _ in stored] == [sid for _, _, sid in script]  # arrival order
    assert {answer for _, _, answer in stored} == {"sent"}
    assert [patient for patient, _, _ in stored] == [pid, 8] * 5
    assert said_to(replies, PHONE) == ["stop", "start", "need", "help", "stop"]
    assert said_to(replies, other) == ["rating", "stop", "start", "need", "stop"]
    found = await events(feedback_db)
    opt = (OptOutRequested, OptInRequested)
    for patient in (pid, 8):
        kinds = [type(e) for e in found if isinstance(e, opt) and e.patient_id == patient]
        assert kinds == [OptOutRequested, OptInRequested, OptOutRequested]
    async with feedback_db.sessions() as session:
        senders_now = (await session.execute(select(Sender).order_by(Sender.patient_id))).scalars()
        assert [s.opted_out for s in senders_now] == [True, True]
        needs = (
            await session.execute(
                select(Need.id, Need.patient_id, InboundMessage.provider_id, InboundMessage.text)
                .join(InboundMessage, InboundMessage.id == Need.inbound_id)
                .order_by(Need.id)
            )
        ).all()
    # Each need beside its own message, and its event naming it.
    assert [(p, sid, text) for _, p, sid, text in needs] == [
        (pid, "SM-a3", "I cannot pay the bus to the clinic"),
        (8, "SM-b4", "I cannot sleep at night"),
    ]
    raised = [(e.need_id, e.patient_id) for e in found if isinstance(e, NeedRaised)]
    assert raised == [(need_id, p) for need_id, p, _, _ in needs]


async def test_a_duplicate_in_one_batch_and_across_batches_is_stored_and_answered_once(
    feedback_db: Database, world: tuple[int, int], stream: Stream, replies: Replies
) -> None:
    await stream.enqueue(
        (PHONE, "STOP", "SM-d1"),
        (PHONE, "4", "SM-d2"),
        (PHONE, "STOP", "SM-d1"),  # the provider's retry, in the same batch
        (PHONE, "START", "SM-d3"),
    )
    assert await stream.settle() == [4]
    await stream.enqueue((PHONE, "STOP", "SM-d1"), (PHONE, "4", "SM-d2"), (PHONE, "3", "SM-d4"))
    assert await stream.settle() == [3]

    assert await rows(feedback_db) == [
        (7, "SM-d1", "sent"),
        (7, "SM-d2", "sent"),
        (7, "SM-d3", "sent"),
        (7, "SM-d4", "sent"),
    ]
    assert said_to(replies, PHONE) == ["stop", "rating", "start", "rating"]
    found = await events(feedback_db)
    assert [type(e) for e in found if isinstance(e, OptOutRequested | OptInRequested)] == [
        OptOutRequested,
        OptInRequested,
    ]
    assert [e.rating for e in found if isinstance(e, RatingGiven)] == [4, 3]


async def test_a_bad_row_is_dead_lettered_alone_and_the_rest_of_its_batch_is_handled(
    feedback_db: Database, world: tuple[int, int], stream: Stream, replies: Replies
) -> None:
    # PostgreSQL refuses a NUL in text: the need's row cannot be written, every time.
    poison = "I need money for the rent\x00"
    await stream.enqueue(
        (PHONE, "4", "SM-p1"),
        (PHONE, "HELP", "SM-p2"),
        (PHONE, poison, "SM-poison"),
        (PHONE, "5", "SM-p4"),
        (PHONE, "record", "SM-p5"),
    )
    # The batch fails, then its messages are tried one by one: those before the bad one
    # are stored and answered; it fails each time until its last delivery dead-letters it,
    # and those after it follow. Each attempt is a worker's read after its pause.
    failures = 0
    while True:
        try:
            await stream.settle()
            break
        except DBAPIError:
            failures += 1
            assert failures < MAX_DELIVERIES, "the bad message was never dead-lettered"
    assert failures == MAX_DELIVERIES - 1

    assert await rows(feedback_db) == [
        (7, "SM-p1", "sent"),
        (7, "SM-p2", "sent"),
        (7, "SM-p4", "sent"),
        (7, "SM-p5", "sent"),
    ]
    assert len(replies.sms.sent) == 4  # each answered once, however often it was read
    (dead,) = await list_dead_letters(stream.redis, stream.keys)
    assert dead.deliveries == MAX_DELIVERIES
    assert "failed 10 deliveries" in dead.reason
    assert "rent" not in dead.reason
    partition = partition_of(replies.handler().cipher.lookup_hash(PHONE))
    assert dead.stream == partition_stream(stream.keys, partition)
    assert (await stream.redis.xpending(dead.stream, GROUP))["pending"] == 0


async def test_two_workers_handling_the_same_batch_at_once_apply_each_message_once(
    feedback_db: Database,
    world: tuple[int, int],
    senders: list[str],  # noqa: F811
    replies: Replies,
) -> None:
    # A worker that stalls past its lease keeps handling its batch while the next holder
    # reads the same entries; here both handle it at once, one in the opposite order
    # (senders locked in a stable order: neither deadlocks nor stores anything twice).
    cipher = IdentifierCipher.from_settings(IdentifierSettings())
    batch = [
        sealed(cipher, channel="sms", provider="twilio", provider_id=f"SM-w{n}", address=p, text=t)
        for n, (p, t) in enumerate([(phone, "STOP") for phone in senders] + [(PHONE, "4")])
    ]
    handler = replies.handler()
    await asyncio.gather(handler.handle(batch), handler.handle(batch[::-1]))

    stored = await rows(feedback_db)
    assert sorted(sid for _, sid, _ in stored) == sorted(m.provider_id for m in batch)
    assert {answer for _, _, answer in stored} == {"sent"}
    assert len(replies.sms.sent) == len(batch)
    found = await events(feedback_db)
    assert sorted(e.patient_id for e in found if isinstance(e, OptOutRequested)) == list(
        range(100, 100 + len(senders))
    )
    assert [type(e) for e in found if not isinstance(e, OptOutRequested)] == [RatingGiven]


async def test_a_batch_writes_its_needs_beside_their_messages_on_either_database(
    feedback_db_either: Database,
    access_db: Database,
    redis: Redis,
    isolation: str,
    webhook_env: None,
) -> None:
    # SQLite has no sequence to take the needs' ids from: there each need is written when
    # it is made; on PostgreSQL the batch's are written together. Either way, each need
    # names its own message and its events name the need.
    db = feedback_db_either
    clinic = await create_clinic(
        access_db, ClinicIn(code="YX", name="Yuxi", help_phone="0877 2012345")
    )
    cipher = IdentifierCipher.from_settings(IdentifierSettings())
    phones = {7: PHONE, 8: "+8613700137000"}
    await handle(
        db,
        *(
            PatientEnrolled(
                patient_id=pid,
                clinic_id=clinic.id,
                phone_hash=cipher.lookup_hash(phone),
                openid_hash=None,
                language="en",
                study_arm=None,
            )
            for pid, phone in phones.items()
        ),
    )
    script = [
        (7, "I cannot pay the rent", "SM-e1"),
        (8, "5", "SM-e2"),
        (7, "STOP", "SM-e3"),
        (7, "I cannot pay the rent", "SM-e1"),  # the provider's retry
        (8, "I took too much, overdose", "SM-e4"),
        (7, "My wife left and I sleep badly", "SM-e5"),
    ]
    batch = [
        sealed(cipher, channel="sms", provider="twilio", provider_id=s, address=phones[p], text=t)
        for p, t, s in script
    ]
    replies = Replies(redis, isolation, db, access_db, configured=False)
    await replies.handler().handle(batch)

    assert await rows(db) == [
        (7, "SM-e1", "sent"),
        (8, "SM-e2", "sent"),
        (7, "SM-e3", "sent"),
        (8, "SM-e4", "sent"),
        (7, "SM-e5", "sent"),
    ]
    async with db.sessions() as session:
        needs = (
            await session.execute(
                select(Need.id, InboundMessage.provider_id, Need.urgent)
                .join(InboundMessage, InboundMessage.id == Need.inbound_id)
                .order_by(Need.id)
            )
        ).all()
    assert [(sid, urgent) for _, sid, urgent in needs] == [
        ("SM-e1", False),
        ("SM-e4", True),
        ("SM-e5", False),
    ]
    found = await events(db)
    assert [e.need_id for e in found if isinstance(e, NeedRaised)] == [n for n, _, _ in needs]
    assert [e.need_id for e in found if isinstance(e, UrgentNeedRaised)] == [needs[1][0]]
    assert said_to(replies, PHONE) == ["need", "stop", "need"]
    assert len(replies.sms.sent) == 5
