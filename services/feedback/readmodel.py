"""Handlers of the scheduler's events: who may write to us, and what they were last taught.

Each runs in the transaction the bus's inbox opens for its message, so a redelivery is
harmless; events may also arrive out of order, so an older one never overwrites newer facts.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.models import LastLesson, Sender
from shared.messages import LessonSent, PatientEnrolled, PatientUpdated


async def store_sender(event: PatientEnrolled | PatientUpdated, session: AsyncSession) -> None:
    sender = await session.get(Sender, event.patient_id, with_for_update=True)
    if sender is not None and sender.as_of > event.occurred_at:
        return  # an event overtaken by a newer one
    state = event.state if isinstance(event, PatientUpdated) else "active"
    opted_out = event.opted_out if isinstance(event, PatientUpdated) else False
    if sender is None:
        session.add(
            Sender(
                patient_id=event.patient_id,
                clinic_id=event.clinic_id,
                phone_hash=event.phone_hash,
                openid_hash=event.openid_hash,
                language=event.language,
                study_arm=event.study_arm,
                state=state,
                opted_out=opted_out,
                as_of=event.occurred_at,
            )
        )
        return
    sender.clinic_id = event.clinic_id
    sender.phone_hash, sender.openid_hash = event.phone_hash, event.openid_hash
    sender.language, sender.study_arm = event.language, event.study_arm
    sender.state, sender.as_of = state, event.occurred_at
    if sender.opt_changed_at is None or sender.opt_changed_at <= event.occurred_at:
        sender.opted_out = opted_out  # else the patient's own STOP/START here is newer


async def store_last_lesson(event: LessonSent, session: AsyncSession) -> None:
    last = await session.get(LastLesson, event.patient_id, with_for_update=True)
    if last is None:
        session.add(
            LastLesson(
                patient_id=event.patient_id,
                track=event.track,
                lesson_key=event.lesson_key,
                version=event.version,
                sent_at=event.occurred_at,
                module=event.module,
            )
        )
    elif last.sent_at <= event.occurred_at:
        last.track, last.lesson_key = event.track, event.lesson_key
        last.version, last.sent_at = event.version, event.occurred_at
        last.module = event.module
