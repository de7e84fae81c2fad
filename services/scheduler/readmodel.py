"""Handlers of events from other services: the curriculum read model and lesson reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.events import updated_event
from services.scheduler.models import (
    LessonProgress,
    Message,
    Occurrence,
    Outbox,
    Patient,
    TrackVersion,
)
from services.scheduler.timeplan import local_today
from shared.bus import add_to_outbox, encode
from shared.messages import (
    CurriculumPublished,
    LessonOpened,
    OptInRequested,
    OptOutRequested,
    RecordRequested,
    WeChatMessageReceived,
)


async def store_curriculum(event: CurriculumPublished, session: AsyncSession) -> None:
    exists = (
        await session.execute(
            select(TrackVersion.id).where(
                TrackVersion.track == event.track, TrackVersion.version == event.version
            )
        )
    ).first()
    if exists is None:  # a version is immutable: the first copy we got is the copy
        session.add(
            TrackVersion(
                track=event.track,
                version=event.version,
                event=encode(event)["m"],
                received_at=datetime.now(UTC),
            )
        )


async def record_lesson_opened(event: LessonOpened, session: AsyncSession) -> None:
    """The link carried our message id as `reader`: that is how we know who read what."""
    message = await session.get(Message, event.reader)
    if message is None:
        return  # a link from another installation, or a message since purged
    await session.execute(
        update(LessonProgress)
        .where(
            LessonProgress.patient_id == message.patient_id,
            LessonProgress.track == event.track,
            LessonProgress.lesson_key == event.lesson_key,
        )
        .values(state="opened", at=event.occurred_at)
    )


async def answer_record_request(event: RecordRequested, session: AsyncSession) -> None:
    """Queue a reply with the patient's own record, due now (the planner releases it)."""
    patient = await session.get(Patient, event.patient_id)
    if patient is None:
        return
    now = datetime.now(UTC)
    session.add(
        Occurrence(
            patient_id=patient.id,
            kind="record_reply",
            local_date=local_today(now, patient.time_zone),
            slot=str(event.id),
            due_at=now,
            expires_at=now + timedelta(hours=1),
            state="planned",
        )
    )


async def opt_out(event: OptOutRequested, session: AsyncSession) -> None:
    await _set_opt_out(session, event.patient_id, opted_out=True)


async def opt_in(event: OptInRequested, session: AsyncSession) -> None:
    await _set_opt_out(session, event.patient_id, opted_out=False)


async def _set_opt_out(session: AsyncSession, patient_id: int, *, opted_out: bool) -> None:
    patient = await session.get(Patient, patient_id, with_for_update=True)
    if patient is None or (patient.opted_out_at is not None) == opted_out:
        return  # unknown, or already so: nothing to announce
    now = datetime.now(UTC)
    patient.opted_out_at, patient.updated_at = (now if opted_out else None), now
    add_to_outbox(session, Outbox, updated_event(patient))


async def note_wechat_message(event: WeChatMessageReceived, session: AsyncSession) -> None:
    """Opens WeChat's 48-hour window for free-text (customer-service) messages."""
    patient = await session.get(Patient, event.patient_id, with_for_update=True)
    if patient is not None and (
        patient.wrote_on_wechat_at is None or patient.wrote_on_wechat_at < event.at
    ):
        patient.wrote_on_wechat_at = event.at
