"""What a reply-like message reads besides the patient: the survey question asked, or the
patient's own record."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.assessment_plan import Invite
from services.scheduler.lessons import LessonChoice
from services.scheduler.models import Dose, Message, Occurrence, Patient, UrineTest
from services.scheduler.rendering import Record
from services.scheduler.risk_models import RiskAssessment
from services.scheduler.timeplan import local_today

Extra = LessonChoice | Record | Invite | str | None  # str: a survey question's text


async def survey_question(session: AsyncSession, message: Message) -> str | None:
    """The question feedback asked for, kept on the occurrence (SurveyRequested)."""
    occurrence = await session.get(Occurrence, message.occurrence_id)
    payload = (occurrence.payload if occurrence is not None else None) or {}
    text = payload.get("text")
    return str(text) if text else None


async def patient_record(
    session: AsyncSession, patient: Patient, now: datetime, days: int = 7
) -> Record:
    """The last `days` days of observed doses (their dates), the latest urine test, the
    current risk band and the next appointment, for a reply."""
    today = local_today(now, patient.time_zone)
    dosed = (
        await session.execute(
            select(Dose.local_date)
            .where(Dose.patient_id == patient.id, Dose.local_date > today - timedelta(days=days))
            .order_by(Dose.local_date)
        )
    ).scalars()
    dates = tuple(dosed)
    test = (
        await session.execute(
            select(UrineTest)
            .where(UrineTest.patient_id == patient.id)
            .order_by(UrineTest.taken_on.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    band = (
        await session.execute(
            select(RiskAssessment.band)
            .where(RiskAssessment.patient_id == patient.id)
            .order_by(RiskAssessment.assessed_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    # An appointment is an appointment reminder (POST .../reminders): its day and time.
    appointment = (
        await session.execute(
            select(Occurrence.local_date, Occurrence.slot)
            .where(
                Occurrence.patient_id == patient.id,
                Occurrence.kind == "appointment",
                Occurrence.local_date >= today,
                Occurrence.state.in_(("planned", "queued")),
            )
            .order_by(Occurrence.local_date, Occurrence.slot)
            .limit(1)
        )
    ).first()
    return Record(
        days=days,
        days_dosed=len(dates),
        last_test_on=test.taken_on.isoformat() if test else None,
        last_test_result=test.result if test else None,
        dose_dates=dates,
        band=band,
        next_appointment=(appointment[0], appointment[1]) if appointment else None,
    )
