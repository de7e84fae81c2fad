"""A patient's message, from whichever channel: recognise, understand, store, announce, answer.

The webhooks authenticate the provider and hand over the sender's look-up hash; this module
does the rest in one transaction: the inbound row (text only for needs), the need, the
local opt-out state, and the events in the outbox. An unknown sender gets a polite generic
answer and nothing is stored. A provider's retry (same MessageSid / MsgId) changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback import surveys
from services.feedback.grammar import Grammar, Kind, Reply
from services.feedback.inbound_lookups import Lookups, OneByOne
from services.feedback.models import InboundMessage, Need, Outbox, Sender
from services.feedback.replies import reply_text, unknown_sender_text
from shared.bus import add_to_outbox
from shared.db import Database
from shared.messages import (
    Event,
    NeedRaised,
    OptInRequested,
    OptOutRequested,
    RatingGiven,
    RecordRequested,
    ReplyKind,
    ReplyReceived,
    UrgentNeedRaised,
    WeChatMessageReceived,
)

INBOUND = Counter(
    "mmt_feedback_inbound_total",
    "Patients' messages received, by channel and outcome (a reply kind, unknown_sender, "
    "duplicate, bad_signature, refused).",
    ["channel", "outcome"],
)

SUBSCRIBE, UNSUBSCRIBE = "subscribe", "unsubscribe"  # WeChat follow events, not text
# What a stored reply counts as in a study's engagement (`ReplyReceived`, for the
# scheduler's export). Kinds not listed are announced otherwise (a rating: RatingGiven;
# STOP and its undoing: OptOut/OptInRequested) or are no reply (WeChat follows).
ENGAGEMENT: dict[str, ReplyKind] = {
    "need": "need",
    "help": "help",
    "record": "record",
    "survey_answer": "survey_answer",
    "number": "other",
    "survey_invalid": "other",
}


def _replied(sender: Sender, kind: str, now: datetime) -> list[Event]:
    counted = ENGAGEMENT.get(kind)
    if counted is None:
        return []
    return [
        ReplyReceived(
            patient_id=sender.patient_id, clinic_id=sender.clinic_id, reply_kind=counted, at=now
        )
    ]


@dataclass(frozen=True)
class Inbound:
    channel: str  # "sms" or "wechat"
    provider_id: str  # MessageSid / MsgId: a provider's retry carries the same one
    sender_hash: str  # IdentifierCipher.lookup_hash of the phone (E.164) or openid
    text: str = ""
    event: str | None = None  # SUBSCRIBE or UNSUBSCRIBE instead of text


@dataclass(frozen=True)
class Outcome:
    outcome: str  # what INBOUND counted
    reply: str | None  # what to answer; None: nothing
    patient_id: int | None = None
    need_id: int | None = None
    stored: InboundMessage | None = None  # the row written, if one was


class Receiver:
    """Handles inbound messages for one app (or test); cheap to build per request."""

    def __init__(
        self,
        db: Database,
        access_db: Database,
        grammar: Grammar,
        *,
        rating_window: timedelta = timedelta(hours=48),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.access_db = access_db
        self.grammar = grammar
        self.rating_window = rating_window
        self.clock = clock
        self.lookups: Lookups = OneByOne(access_db)  # a statement per question asked

    def reading(self, lookups: Lookups) -> Receiver:
        """The same rules reading through `lookups` (the worker's, loaded for a batch)."""
        made = copy.copy(self)
        made.lookups = lookups
        return made

    async def receive(self, message: Inbound) -> Outcome:
        try:
            async with self.db.transaction() as session:
                outcome = await self.receive_in(session, message)
        except IntegrityError:  # a concurrent retry of the same message committed first
            outcome = Outcome("duplicate", None)
        INBOUND.labels(message.channel, outcome.outcome).inc()
        return outcome

    async def receive_in(
        self, session: AsyncSession, message: Inbound, now: datetime | None = None
    ) -> Outcome:
        """The message handled in the caller's transaction (the worker puts a batch in one;
        it counts the outcomes once committed). `now`: when it arrived, else the clock."""
        now = now or self.clock()
        sender = await self.lookups.sender(session, message.channel, message.sender_hash)
        if sender is None:
            return Outcome("unknown_sender", unknown_sender_text())
        if await self.lookups.seen(session, message.channel, message.provider_id):
            return Outcome("duplicate", None, sender.patient_id)
        if message.event is not None:
            return self._follow_event(session, sender, message, now)
        reply = self.grammar.parse(message.text)
        run = await self.lookups.open_run(session, sender.patient_id)
        answered = await surveys.answer(session, run, sender, reply, message.text, now)
        if answered is not None:
            return self._answered(session, sender, message, answered, now)
        return await self._reply(session, sender, message, reply, now)

    def _store(
        self, session: AsyncSession, sender: Sender, message: Inbound, kind: str, now: datetime
    ) -> InboundMessage:
        row = InboundMessage(
            patient_id=sender.patient_id,
            clinic_id=sender.clinic_id,
            channel=message.channel,
            provider_id=message.provider_id[:80],
            received_at=now,
            kind=kind,
            study_arm=sender.study_arm,
        )
        session.add(row)
        return row

    def _answered(
        self,
        session: AsyncSession,
        sender: Sender,
        message: Inbound,
        answered: surveys.Answered,
        now: datetime,
    ) -> Outcome:
        row = self._store(session, sender, message, answered.kind, now)
        row.rating = answered.rating
        row.track, row.lesson_key, row.module = answered.lesson
        events = [*answered.events, *_replied(sender, answered.kind, now)]
        if message.channel == "wechat":
            events.append(WeChatMessageReceived(patient_id=sender.patient_id, at=now))
        add_to_outbox(session, Outbox, *events)
        return Outcome(answered.kind, answered.reply, sender.patient_id, stored=row)

    def _follow_event(
        self, session: AsyncSession, sender: Sender, message: Inbound, now: datetime
    ) -> Outcome:
        row = self._store(session, sender, message, str(message.event), now)
        text = reply_text("subscribe", sender.language) if message.event == SUBSCRIBE else None
        return Outcome(str(message.event), text, sender.patient_id, stored=row)

    async def _reply(
        self, session: AsyncSession, sender: Sender, message: Inbound, reply: Reply, now: datetime
    ) -> Outcome:
        row = self._store(session, sender, message, reply.kind.value, now)
        events: list[Event] = []
        language = sender.language
        text: str | None
        need_id: int | None = None
        if reply.kind is Kind.RATING:
            assert reply.rating is not None
            row.rating = reply.rating
            last = await self.lookups.last_lesson(session, sender.patient_id)
            if last is not None and now - last.sent_at <= self.rating_window:
                row.track, row.lesson_key, row.module = last.track, last.lesson_key, last.module
            events.append(
                RatingGiven(
                    patient_id=sender.patient_id,
                    clinic_id=sender.clinic_id,
                    rating=reply.rating,
                    track=row.track,
                    lesson_key=row.lesson_key,
                )
            )
            text = reply_text("rating", language)
        elif reply.kind is Kind.OPT_OUT:
            text = None  # confirmed once: a second STOP is stored but not answered
            surveys.cancel_open(await self.lookups.open_run(session, sender.patient_id), now)
            if not sender.opted_out:
                sender.opted_out, sender.opt_changed_at = True, now
                events.append(OptOutRequested(patient_id=sender.patient_id))
                text = reply_text("opt_out", language)
        elif reply.kind is Kind.OPT_IN:
            if sender.opted_out:
                sender.opted_out, sender.opt_changed_at = False, now
                events.append(OptInRequested(patient_id=sender.patient_id))
            text = reply_text("opt_in", language)
        elif reply.kind is Kind.NUMBER:
            text = reply_text("number", language)  # no question open: a rating out of range
        elif reply.kind is Kind.HELP:
            text = reply_text("help", language, await self._help_phone(sender.clinic_id))
        elif reply.kind is Kind.RECORD:
            events.append(RecordRequested(patient_id=sender.patient_id))
            text = reply_text("record", language)
        else:
            row.text = message.text
            category = (reply.category or self.grammar.categorise(message.text)).value
            need = Need(
                inbound=row,  # its id is set when the two are written
                patient_id=sender.patient_id,
                clinic_id=sender.clinic_id,
                category=category,
                urgent=reply.urgent,
                status="new",
                created_at=now,
                updated_at=now,
            )
            session.add(need)
            need_id = await self.lookups.need_id(session, need)  # for the events
            patient_id, clinic_id = sender.patient_id, sender.clinic_id
            events.append(
                NeedRaised(
                    need_id=need.id,
                    patient_id=patient_id,
                    clinic_id=clinic_id,
                    category=category,
                    urgent=reply.urgent,
                )
            )
            if reply.urgent:
                events.append(
                    UrgentNeedRaised(
                        need_id=need.id,
                        patient_id=patient_id,
                        clinic_id=clinic_id,
                        category=category,
                    )
                )
                text = reply_text("urgent", language, await self._help_phone(sender.clinic_id))
            else:
                text = reply_text("need", language)
        events += _replied(sender, row.kind, now)
        if message.channel == "wechat":
            events.append(WeChatMessageReceived(patient_id=sender.patient_id, at=now))
        add_to_outbox(session, Outbox, *events)
        outcome = "urgent_need" if reply.urgent else reply.kind.value
        return Outcome(outcome, text, sender.patient_id, need_id, stored=row)

    async def _help_phone(self, clinic_id: int) -> str:
        return await self.lookups.help_phone(clinic_id)
