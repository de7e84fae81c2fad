"""Handlers of events from other services: the curriculum read model and lesson reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.clinic_calendar import survey_start
from services.scheduler.events import updated_event
from services.scheduler.models import (
    LessonProgress,
    Message,
    Occurrence,
    Outbox,
    Patient,
    TrackVersion,
)
from services.scheduler.studies.policy import withheld
from services.scheduler.timeplan import local_today, reminder_time
from shared.bus import add_to_outbox, encode
from shared.messages import (
    CurriculumPublished,
    LessonOpened,
    OptInRequested,
    OptOutRequested,
    RecordRequested,
    SurveyRequested,
    WeChatMessageReceived,
)


async def store_curriculum(event: CurriculumPublished, session: AsyncSession) -> None:
    if event.audience != "patients":
        return  # staff training is read in the console; no patient is ever planned it
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


async def ask_survey_question(event: SurveyRequested, session: AsyncSession) -> None:
    """Plan one survey question as a message: out of quiet hours, visibly expired if its
    window passes unsent. The unique (patient, kind, date, slot) key makes a re-asked
    question (feedback's retry with a new event id) a no-op."""
    patient = await session.get(Patient, event.patient_id)
    if patient is None:
        return
    now = datetime.now(UTC)
    start = max(now, event.not_before or now).astimezone(ZoneInfo(patient.time_zone))
    start = await survey_start(session, patient.clinic_id, start)  # a closed day's waits
    due = reminder_time(
        start.date(), start.time(), patient.time_zone, patient.quiet_start, patient.quiet_end
    )
    # A study arm that receives no surveys: planned visibly suppressed, never sent.
    arm_says_no = await session.scalar(
        select(Patient.id).where(Patient.id == patient.id, withheld("surveys"))
    )
    dialect = session.get_bind().dialect.name
    statement: Any = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(Occurrence)
    await session.execute(
        statement.values(
            patient_id=patient.id,
            kind="survey",
            local_date=local_today(due, patient.time_zone),
            slot=f"survey:{event.run_id}:{event.question_key}"[:60],
            due_at=due,
            expires_at=due + timedelta(hours=event.window_hours),
            state="suppressed" if arm_says_no else "planned",
            reason="the patient's study arm receives no surveys" if arm_says_no else None,
            payload={"text": event.text},
        ).on_conflict_do_nothing(index_elements=["patient_id", "kind", "local_date", "slot"])
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
