"""The feedback worker's side of patients' messages: parse, store, announce, then answer.

A batch read from one partition stream (`inbound_partitions.py`) is handled in arrival
order in one transaction: what the batch's messages read is read first, a statement each for
the whole batch (the senders, locked in a stable order; the ids stored before; the open
survey runs, locked: `inbound_lookups.Prefetched`), then the Receiver's rules run for each
message in order, in Python, on those objects (so a sender's second message sees what the
first changed), and the rows, needs and outbox events are written when the batch flushes,
a multi-row statement per table; one commit for the batch. Only then are the answers sent,
one after the other for each sender, and how each went is written beside its row in one
statement.

Answered once. A stored row whose answer is due is committed marked `pending`; the answer
is sent after the commit and the mark replaced by "sent" or "not sent: <reason>". The same
message again (a provider's retry, or the batch read again after a worker died) is a
duplicate and is not answered again; if it finds its row still `pending`, the worker died
between the commit and the record of its answer, and the row says so ("not sent: the worker
stopped before its answer was recorded") rather than risking a second answer. Messages
with no row (an unknown sender's, a binding) are answered once through a key in Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.grammar import Grammar, Kind
from services.feedback.inbound import INBOUND, UNSUBSCRIBE, Inbound, Outcome, Receiver
from services.feedback.inbound_lookups import Prefetched, Wanted
from services.feedback.models import InboundMessage, Outbox
from services.feedback.replies import reply_text
from services.feedback.sms_answers import Answers
from shared.bulk import BulkWrite
from shared.bus import BusKeys, add_to_outbox
from shared.crypto import IdentifierCipher, InvalidIdentifier
from shared.db import Database
from shared.messages import ChannelBound, InboundReceived

PENDING = "pending"
INTERRUPTED = "not sent: the worker stopped before its answer was recorded"
ANSWERED_TTL_S = 7 * 86_400  # a provider's retries come within hours
ANSWER_CONCURRENCY = 32  # senders answered at once (one sender's answers stay in order)
RECORD_ATTEMPTS = 5  # about 6 s in all
# Batches stored at once: each holds a database connection while it does, and sixteen at
# once took more than a pool (and, on a shared server, its connection limit). Answering
# holds none, so it is not bounded by this.
STORING_AT_ONCE = 4
# How a batch's answers went: one statement, its own transaction (shared/bulk.py).
_ANSWERS = BulkWrite(InboundMessage.__table__, ("answer",), key="id", key_param="row")  # type: ignore[arg-type]


class Unreadable(Exception):
    """A message that no configured key opens: dead-lettered at once, not retried."""


@dataclass
class _Handled:
    message: InboundReceived
    address: str
    outcome: Outcome
    reply: str | None
    row_id: int | None = None


class InboundHandler:
    def __init__(
        self,
        db: Database,
        access_db: Database,
        redis: Redis,
        keys: BusKeys,
        cipher: IdentifierCipher,
        grammar: Grammar,
        answers: Answers,
        *,
        rating_window: timedelta = timedelta(hours=48),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.redis = redis
        self.keys = keys
        self.cipher = cipher
        self.answers = answers
        self.receiver = Receiver(db, access_db, grammar, rating_window=rating_window, clock=clock)
        self.storing = asyncio.Semaphore(STORING_AT_ONCE)

    def _open(self, message: InboundReceived) -> tuple[str, str]:
        try:
            address = self.cipher.decrypt(message.address)
            text = self.cipher.decrypt(message.text) if message.text else ""
        except InvalidIdentifier:
            raise Unreadable("no configured IDENTIFIER_KEYS key opens it") from None
        return address, text

    async def handle(self, messages: Sequence[InboundReceived]) -> None:
        """Store and announce the batch in order, in one transaction; then answer."""
        opened = [(message, *self._open(message)) for message in messages]
        async with self.storing:
            handled = await self._store(opened)
        for h in handled:
            INBOUND.labels(h.message.channel, h.outcome.outcome).inc()
        await self._answer_all(handled)

    async def _store(self, opened: list[tuple[InboundReceived, str, str]]) -> list[_Handled]:
        async with self.db.transaction() as session:
            lookups = await Prefetched.load(
                session,
                self.db,
                self.receiver.access_db,
                [
                    Wanted(m.channel, m.sender_hash, m.provider_id, self._maybe_need(m, text))
                    for m, _, text in opened
                    if not m.bind_code
                ],
            )
            receiver = self.receiver.reading(lookups)
            handled: list[_Handled] = []
            for item in opened:
                h = await self._one(session, receiver, *item)
                if h.outcome.stored is not None:
                    lookups.remember(h.message.channel, h.message.provider_id)
                handled.append(h)
            fresh = {h.message.provider_id for h in handled if h.outcome.stored is not None}
            for h in handled:
                if h.reply and h.outcome.stored is not None:
                    h.outcome.stored.answer = PENDING
            await session.flush()  # the rows' ids, for writing how their answers went
            for h in handled:
                h.row_id = h.outcome.stored.id if h.outcome.stored is not None else None
            await _mark_interrupted(
                session,
                [
                    h.message
                    for h in handled
                    if h.outcome.outcome == "duplicate" and h.message.provider_id not in fresh
                ],
            )
        return handled

    def _maybe_need(self, message: InboundReceived, text: str) -> bool:
        return message.event is None and self.receiver.grammar.parse(text).kind is Kind.NEED

    async def _one(
        self,
        session: AsyncSession,
        receiver: Receiver,
        message: InboundReceived,
        address: str,
        text: str,
    ) -> _Handled:
        if message.bind_code:
            # A scan of a binding QR code: the scheduler binds the openid to its patient.
            bound = ChannelBound(
                binding_code=message.bind_code,
                openid_encrypted=message.address,
                openid_hash=message.sender_hash,
            )
            add_to_outbox(session, Outbox, bound)
            welcome = reply_text("subscribe", "zh-CN")
            return _Handled(message, address, Outcome("binding", welcome), welcome)
        inbound = Inbound(
            channel=message.channel,
            provider_id=message.provider_id,
            sender_hash=message.sender_hash,
            text=text,
            event=message.event,
        )
        outcome = await receiver.receive_in(session, inbound, now=message.occurred_at)
        reply = outcome.reply if message.event != UNSUBSCRIBE else None
        return _Handled(message, address, outcome, reply)

    async def _answer_all(self, handled: Sequence[_Handled]) -> None:
        """Each sender's answers in order; different senders at once (a provider's API
        call each); then how each went, beside its row, in one statement."""
        by_sender: dict[str, list[_Handled]] = {}
        for h in handled:
            if h.reply:
                by_sender.setdefault(h.message.sender_hash, []).append(h)
        limit = asyncio.Semaphore(ANSWER_CONCURRENCY)
        said: list[dict[str, object]] = []

        async def answer(items: list[_Handled]) -> None:
            async with limit:
                for h in items:
                    outcome = await self._answer(h)
                    if outcome is not None and h.row_id is not None:
                        said.append({"row": h.row_id, "answer": outcome})

        await asyncio.gather(*(answer(items) for items in by_sender.values()))
        if said:
            await self._record(said)

    async def _record(self, said: list[dict[str, object]]) -> None:
        """How the answers went, in one statement. They are sent: a failure here is retried
        a few times before the batch fails (read again, its rows then say the answer was
        not recorded), so a blip of the database does not cost the record."""
        for attempt in range(RECORD_ATTEMPTS):
            try:
                async with self.db.autocommit() as conn:
                    await _ANSWERS.execute(conn, said)
                return
            except Exception:
                if attempt == RECORD_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.2 * 2**attempt)

    async def _answer(self, h: _Handled) -> str | None:
        assert h.reply is not None
        message = h.message
        if h.row_id is None and not await self._first_answer(message):
            return None  # no row to say it was answered: Redis remembers instead
        return await self.answers.answer(
            message.provider, message.channel, message.provider_id, h.address, h.reply
        )

    async def _first_answer(self, message: InboundReceived) -> bool:
        digest = hashlib.sha256(f"{message.channel}:{message.provider_id}".encode()).hexdigest()
        key = f"{self.keys.tag}:feedback:answered:{digest[:32]}"
        return bool(await self.redis.set(key, b"1", nx=True, ex=ANSWERED_TTL_S))


async def _mark_interrupted(session: AsyncSession, again: Sequence[InboundReceived]) -> None:
    """A message seen again whose row is still `pending`: its answer was never recorded."""
    for channel in {m.channel for m in again}:
        ids = [m.provider_id[:80] for m in again if m.channel == channel]
        await session.execute(
            update(InboundMessage)
            .where(
                InboundMessage.channel == channel,
                InboundMessage.provider_id.in_(ids),
                InboundMessage.answer == PENDING,
            )
            .values(answer=INTERRUPTED)
        )
