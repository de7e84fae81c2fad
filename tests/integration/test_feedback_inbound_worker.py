"""The feedback worker's side of patients' messages, on the real database and Redis: order
per sender with two workers sharing (and taking over) the partitions, a provider's
duplicates and a dead worker's batch stored and answered once, an answer that could not be
sent recorded with its reason, and an urgent need picked up at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from services.feedback.inbound_partitions import PartitionRunner
from services.feedback.inbound_stream import (
    GROUP,
    InboundAppender,
    partition_of,
    partition_stream,
    sealed,
)
from services.feedback.inbound_worker import INTERRUPTED
from services.feedback.models import InboundMessage, Need
from services.feedback.sms_answers import Answers
from shared.bus import BusKeys, Publisher, decode
from shared.channels import FailureKind, OutboundMessage, SendFailed
from shared.channels.base import SendResult
from shared.channels.registry import ChannelRegistry
from shared.crypto import IdentifierCipher, IdentifierSettings
from shared.db import Database
from shared.messages import InboundReceived, OptInRequested, OptOutRequested, PatientEnrolled
from tests.integration.inboundutil import Replies
from tests.integration.test_feedback_inbound import PHONE, events, handle

SENDERS = 6  # patients 100-105, besides the `world`'s patient 7


@pytest.fixture
async def senders(feedback_db: Database, world: tuple[int, int]) -> list[str]:
    clinic_id, _ = world
    cipher = IdentifierCipher.from_settings(IdentifierSettings())
    phones = [f"+86138001381{n:02d}" for n in range(SENDERS)]
    await handle(
        feedback_db,
        *(
            PatientEnrolled(
                patient_id=100 + n,
                clinic_id=clinic_id,
                phone_hash=cipher.lookup_hash(phone),
                openid_hash=None,
                language="en",
                study_arm=None,
            )
            for n, phone in enumerate(phones)
        ),
    )
    return phones


@pytest.fixture
def keys(isolation: str) -> BusKeys:
    return BusKeys(isolation.rstrip("_"))


@pytest.fixture
def enqueue(redis: Redis, keys: BusKeys, webhook_env: None) -> Callable[..., Awaitable[None]]:
    """Append texts as the webhooks do: `await enqueue((phone, text, sid), ...)`."""
    appender = InboundAppender(Publisher(redis, keys))
    cipher = IdentifierCipher.from_settings(IdentifierSettings())

    async def append(*texts: tuple[str, str, str]) -> None:
        for phone, text, sid in texts:
            await appender.submit(
                sealed(
                    cipher,
                    channel="sms",
                    provider="twilio",
                    provider_id=sid,
                    address=phone,
                    text=text,
                )
            )

    return append


async def until(condition: Callable[[], Awaitable[bool]], within_s: float = 30) -> float:
    """Wait for `condition`, checking every 20 ms; returns the seconds it took."""
    start = time.monotonic()
    while not await condition():
        assert time.monotonic() - start < within_s, "the condition never held"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def rows(db: Database) -> list[tuple[int, str, str | None]]:
    async with db.sessions() as session:
        found = await session.execute(
            select(
                InboundMessage.patient_id, InboundMessage.provider_id, InboundMessage.answer
            ).order_by(InboundMessage.id)
        )
    return [(p, sid, answer) for p, sid, answer in found]


class Workers:
    """Workers whose lease ticks run every 50 ms (the worker's job runs them each second)."""

    def __init__(self, redis: Redis, keys: BusKeys, replies: Replies) -> None:
        self.redis, self.keys, self.replies = redis, keys, replies
        self.running: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}

    def start(self, name: str) -> PartitionRunner:
        runner = PartitionRunner(
            self.redis, self.keys, self.replies.handler().handle, worker_id=name
        )
        stop = asyncio.Event()

        async def ticks() -> None:
            while not stop.is_set():
                await runner.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.05)
            await runner.aclose()  # its partitions let go, for the others to take

        self.running[name] = (asyncio.create_task(ticks()), stop)
        return runner

    async def stop(self, name: str) -> None:
        task, stop = self.running.pop(name)
        stop.set()
        await task


@pytest.fixture
async def workers(redis: Redis, keys: BusKeys, replies: Replies) -> AsyncIterator[Workers]:
    started = Workers(redis, keys, replies)
    yield started
    for name in list(started.running):
        await started.stop(name)


async def test_each_senders_messages_are_handled_in_order_by_two_workers(
    feedback_db: Database,
    senders: list[str],
    enqueue: Callable[..., Awaitable[None]],
    workers: Workers,
    replies: Replies,
) -> None:
    first = workers.start("worker-a")
    second = workers.start("worker-b")
    await until(lambda: _true(len(first.held) + len(second.held) == 16))
    # Opt out and back in, ten times each, interleaved across the senders: only the
    # order of each sender's messages gives the right events and answers.
    words = ["STOP", "START"] * 10
    batch = [
        (phone, word, f"SM{n}-{i:02d}")
        for i, word in enumerate(words)
        for n, phone in enumerate(senders)
    ]
    await enqueue(*batch[: len(batch) // 2])
    await until(lambda: _true(bool(first.held) and bool(second.held)))  # both share
    first_held = first.held
    leaving = asyncio.create_task(workers.stop("worker-a"))  # the first leaves mid-way
    await enqueue(*batch[len(batch) // 2 :])
    await leaving
    await until(lambda: _count(feedback_db, len(batch)))
    await until(lambda: _true(len(replies.sms.sent) == len(batch)))
    # Taken over: the second worker claims the partitions the first let go on its next
    # lease round, which may come after the first had already handled its share.
    await until(lambda: _true(set(first_held) <= set(second.held)))
    stored = await rows(feedback_db)
    for n in range(SENDERS):
        mine = [sid for patient, sid, _ in stored if patient == 100 + n]
        assert mine == [f"SM{n}-{i:02d}" for i in range(len(words))]  # arrival order
    assert {answer for _, _, answer in stored} == {"sent"}
    for n, phone in enumerate(senders):
        texts = [m.text for m in replies.sms.sent if m.address == phone]
        assert [("unsubscribed" in t, "subscribed again" in t) for t in texts] == [
            (True, False),
            (False, True),
        ] * 10, n
    found = [e for e in await events(feedback_db) if e.patient_id >= 100]  # type: ignore[attr-defined]
    assert len(found) == len(batch)
    for n in range(SENDERS):
        kinds = [type(e) for e in found if e.patient_id == 100 + n]  # type: ignore[attr-defined]
        assert kinds == [OptOutRequested, OptInRequested] * 10


async def _true(value: bool) -> bool:
    return value


async def _count(db: Database, expected: int) -> bool:
    return len(await rows(db)) == expected


async def test_duplicates_and_a_dead_workers_batch_are_stored_and_answered_once(
    feedback_db: Database,
    redis: Redis,
    keys: BusKeys,
    world: tuple[int, int],
    enqueue: Callable[..., Awaitable[None]],
    replies: Replies,
) -> None:
    # The provider delivers twice in a row, and again later.
    await enqueue((PHONE, "4", "SM-dup"), (PHONE, "4", "SM-dup"))
    await replies.settle()
    await enqueue((PHONE, "4", "SM-dup"))
    assert await replies.answer("SM-dup") == "Thank you for your rating!"
    assert await rows(feedback_db) == [(7, "SM-dup", "sent")]

    # A worker reads a batch and dies before handling it; another message follows.
    stream = partition_stream(keys, partition_of(replies.handler().cipher.lookup_hash(PHONE)))
    await enqueue((PHONE, "HELP", "SM-lost"))
    consumer = f"p{partition_of(replies.handler().cipher.lookup_hash(PHONE))}"
    read = await redis.xreadgroup(GROUP, consumer, {stream: ">"}, count=10)
    assert len(read[0][1]) == 1  # read, never acknowledged
    await enqueue((PHONE, "record", "SM-next"))
    await replies.settle()
    assert [sid for _, sid, _ in await rows(feedback_db)] == ["SM-dup", "SM-lost", "SM-next"]
    assert "+868772012345" in str(await replies.answer("SM-lost"))

    # A worker handles a batch but dies before acknowledging it: read again, nothing twice.
    await enqueue((PHONE, "5", "SM-unacked"))
    read = await redis.xreadgroup(GROUP, consumer, {stream: ">"}, count=10)
    [(_, entry)] = read[0][1]
    dead_workers = decode(entry)
    assert isinstance(dead_workers, InboundReceived)
    await replies.handler().handle([dead_workers])
    await replies.settle()
    assert await replies.answer("SM-unacked") == "Thank you for your rating!"
    assert len(replies.sms.sent) == 4
    assert [answer for _, _, answer in await rows(feedback_db)] == ["sent"] * 4
    assert (await redis.xpending(stream, GROUP))["pending"] == 0


class _Refusing:
    code = "sms"

    async def send(self, message: OutboundMessage) -> SendResult:
        raise SendFailed(FailureKind.PERMANENT, "twilio: 21610 the number unsubscribed")

    async def aclose(self) -> None:
        return None


class _Dying(Answers):
    async def answer(
        self, vendor: str, channel: str, inbound_id: str, address: str, text: str
    ) -> str:
        raise RuntimeError("the worker is killed while answering")


async def test_an_answer_not_sent_is_recorded_with_its_reason(
    feedback_db: Database,
    world: tuple[int, int],
    enqueue: Callable[..., Awaitable[None]],
    replies: Replies,
) -> None:
    replies.handler().answers = Answers(ChannelRegistry([_Refusing()]))
    await enqueue((PHONE, "stop", "SM-refused"))
    await replies.settle()
    assert await rows(feedback_db) == [
        (7, "SM-refused", "not sent: twilio: 21610 the number unsubscribed")
    ]
    # Killed between storing and recording the answer: read again, it says so, once.
    replies.handler().answers = _Dying(None)
    await enqueue((PHONE, "start", "SM-killed"))
    await replies.settle()
    assert (await rows(feedback_db))[-1] == (7, "SM-killed", INTERRUPTED)
    assert [type(e) for e in await events(feedback_db)] == [OptOutRequested, OptInRequested]


async def test_an_urgent_need_is_picked_up_at_once(
    feedback_db: Database,
    world: tuple[int, int],
    enqueue: Callable[..., Awaitable[None]],
    workers: Workers,
) -> None:
    worker = workers.start("worker-urgent")
    await until(lambda: _true(len(worker.held) == 16))
    await enqueue((PHONE, "I took too much, overdose", "SM-urgent"))

    async def raised() -> bool:
        async with feedback_db.sessions() as session:
            return bool(await session.scalar(select(Need.id).where(Need.urgent.is_(True))))

    # A blocked read wakes as the message lands: well within a second on an idle machine;
    # the bound is loose because the test machine is shared.
    assert await until(raised, within_s=5) < 5
