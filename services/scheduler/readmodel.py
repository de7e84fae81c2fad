"""Handlers of events from other services: the curriculum read model and lesson reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.models import LessonProgress, Message, Occurrence, Patient, TrackVersion
from services.scheduler.timeplan import local_today
from shared.bus import encode
from shared.messages import CurriculumPublished, LessonOpened, RecordRequested


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
