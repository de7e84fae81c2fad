"""The dispatcher: turns a queued message into text on a patient's phone, or a reason.

It consumes SendMessage commands (a consumer group: run as many workers as you like).
For each message: mark it `sending` in its own short transaction (so a crash mid-send is
visible), render it, try the patient's channels in order, and record every attempt. The
network call happens outside any database transaction. A permanent failure moves on to the
next channel; a retryable one schedules a retry with backoff (the planner re-queues it);
a provider saying the patient unsubscribed stops everything. Whatever happens, the message
ends in a final state a coordinator can see.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.assessment_links import AssessmentLinks
from services.scheduler.assessment_plan import KIND as ASSESSMENT
from services.scheduler.assessment_plan import Invite, reminder_invite
from services.scheduler.dispatch.context import Extra, patient_record, survey_question
from services.scheduler.dispatch.rules import (
    MAX_ATTEMPTS,
    MAX_BACKOFF_S,
    OPEN_STATES,
    SENDING_TAKEOVER,
    WECHAT_WINDOW,
    AttemptRow,
    InFlightElsewhere,
    Outcome,
    Recipient,
    Sendable,
    final_before_sending,
    receipt_came_first,
    waiting_for_retry,
)
from services.scheduler.events import updated_event
from services.scheduler.lessons import LessonChoice, choose_lesson
from services.scheduler.models import Attempt, LessonProgress, Message, Outbox, Patient
from services.scheduler.record_links import RecordLink, RecordLinks
from services.scheduler.rendering import Record, Rendered, render
from services.scheduler.settings import SchedulerSettings
from shared.bus import add_to_outbox
from shared.channels import ChannelRegistry, OutboundMessage, SendFailed
from shared.channels.base import FailureKind
from shared.crypto import IdentifierCipher
from shared.db import Database
from shared.lesson_links import LessonLink, LessonLinks
from shared.logging import get_logger
from shared.messages import LessonSent, SendMessage
from shared.metrics import CHANNEL_SENDS

log = get_logger("services.scheduler.dispatch")


class Dispatcher:
    def __init__(
        self,
        db: Database,
        cipher: IdentifierCipher | None,
        channels: ChannelRegistry,
        links: LessonLinks | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        record_links: RecordLinks | None = None,
    ) -> None:
        self.clock = clock  # injectable, so tests can stand at a fixed moment
        self.db = db
        self.cipher = cipher
        self.channels = channels
        self.links = links
        # Record replies link to the record page when configured (record_links.py).
        self.record_links = record_links or RecordLinks.from_environment()
        # Assessment reminders carry the patient's self-assessment link (assessment_links.py).
        self.assessment_links = AssessmentLinks.from_environment()
        self.retry_backoff_s = SchedulerSettings().retry_backoff_s

    async def handle(self, command: SendMessage, session: AsyncSession) -> None:
        claimed = await self._claim(command.message_id)
        if claimed is None:
            return  # already handled (a redelivery), or no longer due
        message, patient, extra, tried = claimed
        lesson = extra if isinstance(extra, LessonChoice) else None
        record = extra if isinstance(extra, Record) else None
        survey = extra if isinstance(extra, str) else None
        invite = extra.link if isinstance(extra, Invite) else None
        attempts: list[AttemptRow] = []
        outcome = await self.send(message, patient, lesson, record, attempts, tried, survey, invite)
        session.add_all(Attempt(**row) for row in attempts)
        await self._record(session, message.id, outcome, lesson)

    async def _claim(self, message_id: str) -> tuple[Message, Patient, Extra, set[str]] | None:
        now = self.clock()
        async with self.db.transaction() as session:
            message = await session.get(Message, message_id, with_for_update=True)
            if message is None or message.state not in OPEN_STATES:
                return None
            if waiting_for_retry(message, now):
                return None
            if message.state == "sending" and now - message.updated_at < SENDING_TAKEOVER:
                # Another dispatcher has it in hand (a duplicate command): not ours to send
                # twice. Left pending, this delivery is retried; if that dispatcher died, the
                # message is taken over once it has been "sending" for too long.
                raise InFlightElsewhere(message_id)
            patient = await session.get(Patient, message.patient_id)
            if patient is None:
                return None
            final = final_before_sending(message, patient, now, self.cipher)
            extra: Extra = None
            if final is None and message.kind == "record_reply":
                extra = await patient_record(session, patient, now)
                if self.record_links is not None:
                    link = RecordLink(message.id, patient.language)
                    extra = replace(extra, link=self.record_links.url(link))
            if final is None and message.kind == "survey":
                extra = await survey_question(session, message)
                if extra is None:
                    final = ("failed", "the survey question has no text")
            if final is None and message.kind == ASSESSMENT:
                invited = await reminder_invite(
                    session, message.occurrence_id, patient.language, self.assessment_links
                )
                extra, final = (invited, None) if isinstance(invited, Invite) else (None, invited)
            if final is None and message.kind == "lesson":
                extra = await choose_lesson(session, patient)
                if extra is None:
                    final = ("skipped", "no lesson left in the patient's tracks")
                elif self.links is None:
                    final = ("failed", "lesson links are not configured (LESSON_LINK_SECRET)")
            if final is not None:
                message.state, message.reason = final
                message.updated_at = now
                return None
            tried: set[str] = set()
            if message.attempts:  # a retry or a fallback: channels that already answered
                tried = set(
                    (
                        await session.execute(
                            select(Attempt.channel).where(
                                Attempt.message_id == message.id,
                                Attempt.outcome.in_(("sent", "delivered", "permanent")),
                            )
                        )
                    ).scalars()
                )
            message.state, message.updated_at, message.retry_at = "sending", now, None
            message.attempts += 1
            await session.flush()  # before expunging: a chained track must be saved
            session.expunge(message)
            session.expunge(patient)
        return message, patient, extra, tried

    async def send(
        self,
        message: Sendable,
        patient: Recipient,
        lesson: LessonChoice | None,
        record: Record | None,
        attempts: list[AttemptRow],
        tried: set[str],
        survey_text: str | None = None,
        invite: str | None = None,
    ) -> Outcome:
        """Always an outcome, never an exception: the message is already `sending`, and
        the batch path records a whole batch's outcomes together. An exception here used to
        discard the outcomes of every message its batch had already handed to the provider;
        left `sending`, they were taken over a minute later and sent again (a chaos run
        found it: a Redis restart under the pacer)."""
        assert self.cipher is not None  # final_before_sending checked it
        try:
            rendered = self._render(message, patient, lesson, record, survey_text, invite)
        except Exception as exc:  # no provider called
            return self._crashed(message, None, exc, attempts)
        reasons: list[str] = []
        for code in patient.channel_order:
            if code in tried:
                continue  # it failed for good, or took the message and sent no receipt
            channel = self.channels.get(code)
            encrypted = patient.phone_enc if code == "sms" else patient.openid_enc
            if channel is None or encrypted is None:
                reasons.append(f"{code}: not available")
                continue
            wrote = patient.wrote_on_wechat_at
            try:
                outbound = OutboundMessage(
                    message.id,
                    self.cipher.decrypt(encrypted),
                    rendered.text,
                    message.kind,
                    rendered.fields,
                    # Free text is allowed within 48 h of the patient's last message; an
                    # hour of margin for clocks and queues. Outside it, templates only.
                    reply_window_open=code == "wechat"
                    and wrote is not None
                    and self.clock() - wrote < WECHAT_WINDOW,
                    time_zone=patient.time_zone,
                )
                result = await channel.send(outbound)
            except SendFailed as failure:
                if failure.code == "paced":  # not an attempt: wait our turn, then send
                    wait = timedelta(seconds=failure.retry_after_s or 1.0)
                    return Outcome(
                        "queued", message.reason, retry_at=self.clock() + wait, uncounted=True
                    )
                reasons.append(f"{code}: {failure.reason}")
                attempts.append(
                    self._attempt(message.id, code, failure.kind.value, None, failure.reason)
                )
                if failure.kind is FailureKind.OPTED_OUT:
                    return Outcome("opted_out", "; ".join(reasons), code, opted_out=True)
                if failure.kind in (FailureKind.RETRYABLE, FailureKind.RATE_LIMITED):
                    return self._retry(message, "; ".join(reasons), failure.retry_after_s)
                continue  # permanent on this channel: fall back to the next
            except Exception as exc:  # our fault (a bug, Redis gone), not the provider's answer
                return self._crashed(message, code, exc, attempts)
            attempts.append(
                self._attempt(message.id, code, result.state.value, result.provider_id, None)
            )
            return Outcome(result.state.value, None, code, result.provider_id)
        return Outcome("failed", "; ".join(reasons) or "no channel configured")

    def _render(
        self,
        message: Sendable,
        patient: Recipient,
        lesson: LessonChoice | None,
        record: Record | None,
        survey_text: str | None,
        invite: str | None = None,
    ) -> Rendered:
        link = invite  # an assessment reminder's link, made when it was claimed
        if lesson is not None and self.links is not None:
            link = self.links.url(
                LessonLink(message.id, lesson.track, lesson.key, lesson.version, patient.language)
            )
        return render(
            message.kind,
            patient.language,
            explicit=patient.explicit_wording,
            name=patient.display_name,
            lesson_notification=lesson.notification if lesson else None,
            link=link,
            record=record,
            survey_text=survey_text,
            # A card's time field shows the patient's own clock.
            local=self.clock().astimezone(ZoneInfo(patient.time_zone)),
        )

    def _crashed(
        self, message: Sendable, code: str | None, exc: Exception, attempts: list[AttemptRow]
    ) -> Outcome:
        """A fault of ours, not a provider's answer: retried, visibly, like a timeout (with
        `code`, the provider may have the message, as after a timeout; MAX_ATTEMPTS bounds a
        fault that repeats). Only the type is logged: an exception's text may quote the
        recipient."""
        log.error(
            "dispatch.send_crashed", message_id=message.id, channel=code, error=type(exc).__name__
        )
        reason = f"unexpected {type(exc).__name__}"
        if code is not None:
            reason = f"{code}: {reason}"
            retryable = FailureKind.RETRYABLE.value
            attempts.append(self._attempt(message.id, code, retryable, None, reason))
        return self._retry(message, reason, None)

    def _retry(self, message: Sendable, reason: str, after_s: float | None) -> Outcome:
        if message.attempts >= MAX_ATTEMPTS:
            return Outcome("failed", f"gave up after {message.attempts} attempts: {reason}")
        backoff = (
            after_s
            if after_s is not None
            else min(2**message.attempts * self.retry_backoff_s, MAX_BACKOFF_S)
        )
        retry_at = self.clock() + timedelta(seconds=backoff * random.uniform(1, 1.5))  # noqa: S311 (jitter)
        if retry_at >= message.expires_at:
            return Outcome("failed", f"window closes before a retry: {reason}")
        return Outcome("queued", f"retrying: {reason}", retry_at=retry_at)

    def _attempt(
        self,
        message_id: str,
        channel: str,
        outcome: str,
        provider_id: str | None,
        error: str | None,
    ) -> AttemptRow:
        # Written with the outcome, in one commit: a commit per attempt halved throughput.
        # A plain row, not an ORM object: the batch path inserts rows, and building an
        # object per attempt cost 3 % of a burst's CPU.
        CHANNEL_SENDS.labels(channel, outcome).inc()
        return {
            "message_id": message_id,
            "channel": channel,
            "at": self.clock(),
            "outcome": outcome,
            "provider_id": provider_id,
            "error": error[:500] if error else None,
        }

    async def _record(
        self, session: AsyncSession, message_id: str, outcome: Outcome, lesson: LessonChoice | None
    ) -> None:
        now = self.clock()
        message = await session.get(Message, message_id, with_for_update=True)
        if message is None:
            return
        if not receipt_came_first(message.state, outcome.state):
            message.state, message.reason = outcome.state, outcome.reason
        message.channel, message.provider_id = outcome.channel, outcome.provider_id
        message.retry_at, message.updated_at = outcome.retry_at, now
        if outcome.uncounted:
            message.attempts = max(message.attempts - 1, 0)
        if lesson is not None and outcome.state in ("sent", "delivered"):
            message.lesson_key = lesson.key
            session.add(
                LessonProgress(
                    patient_id=message.patient_id,
                    track=lesson.track,
                    lesson_key=lesson.key,
                    state="sent",
                    at=now,
                )
            )
            add_to_outbox(
                session,
                Outbox,
                LessonSent(
                    message_id=message.id,
                    patient_id=message.patient_id,
                    clinic_id=message.clinic_id,
                    track=lesson.track,
                    lesson_key=lesson.key,
                    version=lesson.version,
                    module=lesson.module,
                ),
            )
        if outcome.opted_out:
            patient = await session.get(Patient, message.patient_id, with_for_update=True)
            if patient is not None and patient.opted_out_at is None:
                patient.opted_out_at = now
                add_to_outbox(session, Outbox, updated_event(patient))
        log.info(
            "dispatch.outcome", message_id=message_id, state=outcome.state, channel=outcome.channel
        )
