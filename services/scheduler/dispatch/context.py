"""What a reply-like message reads besides the patient: the survey question asked, or the
patient's own record."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.lessons import LessonChoice
from services.scheduler.models import Dose, Message, Occurrence, Patient, UrineTest
from services.scheduler.rendering import Record
from services.scheduler.timeplan import local_today

Extra = LessonChoice | Record | str | None  # str: a survey question's text


async def survey_question(session: AsyncSession, message: Message) -> str | None:
    """The question feedback asked for, kept on the occurrence (SurveyRequested)."""
    occurrence = await session.get(Occurrence, message.occurrence_id)
    payload = (occurrence.payload if occurrence is not None else None) or {}
    text = payload.get("text")
    return str(text) if text else None


async def patient_record(
    session: AsyncSession, patient: Patient, now: datetime, days: int = 7
) -> Record:
    """The last `days` days of observed doses and the latest urine test, for a reply."""
    today = local_today(now, patient.time_zone)
    dosed = (
        await session.execute(
            select(func.count())
            .select_from(Dose)
            .where(Dose.patient_id == patient.id, Dose.local_date > today - timedelta(days=days))
        )
    ).scalar_one()
    test = (
        await session.execute(
            select(UrineTest)
            .where(UrineTest.patient_id == patient.id)
            .order_by(UrineTest.taken_on.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return Record(
        days=days,
        days_dosed=int(dosed),
        last_test_on=test.taken_on.isoformat() if test else None,
        last_test_result=test.result if test else None,
    )
