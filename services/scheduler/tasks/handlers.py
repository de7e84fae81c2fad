"""Bus events that become follow-up tasks. Each handler runs in the consumer's transaction
and keys its signal on the fact it reports (the alert, the need, the rating event), so a
redelivered event adds nothing (`raise_signal` is idempotent on the key)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.models import Patient
from services.scheduler.ratings import PatientRating, record_rating
from services.scheduler.tasks.signals import raise_signal
from shared.messages import (
    DropoutRiskRaised,
    NeedRaised,
    RatingGiven,
    RiskAlertRaised,
    UrgentNeedRaised,
)

LOW_RATING = 2  # a rating of 1 or 2
LOW_IN_A_ROW = 2


async def signal_for_patient(
    session: AsyncSession,
    kind: str,
    patient_id: int,
    key: str,
    at: datetime,
    detail: str | None = None,
) -> int | None:
    """A signal for the patient's present clinic; None when the patient is not here (purged,
    or of another installation): nothing to follow up."""
    clinic_id = await session.scalar(select(Patient.clinic_id).where(Patient.id == patient_id))
    if clinic_id is None:
        return None
    return await raise_signal(
        session,
        kind=kind,
        clinic_id=clinic_id,
        patient_id=patient_id,
        signal_key=key,
        signalled_at=at,
        detail=detail,
    )


async def on_dropout_risk(event: DropoutRiskRaised, session: AsyncSession) -> None:
    await signal_for_patient(
        session,
        "dropout_risk",
        event.patient_id,
        f"alert:{event.alert_id}",
        event.occurred_at,
        f"alert {event.alert_id}: {event.missed_days} days missed",
    )


async def on_risk_alert(event: RiskAlertRaised, session: AsyncSession) -> None:
    await signal_for_patient(
        session,
        "risk_rise",
        event.patient_id,
        f"alert:{event.alert_id}",
        event.occurred_at,
        f"alert {event.alert_id}: {event.instrument} {event.from_band} -> {event.to_band}",
    )


async def _need(session: AsyncSession, kind: str, event: NeedRaised | UrgentNeedRaised) -> None:
    await signal_for_patient(
        session,
        kind,
        event.patient_id,
        f"need:{event.need_id}",
        event.occurred_at,
        f"need {event.need_id} ({event.category})",
    )


async def on_need(event: NeedRaised, session: AsyncSession) -> None:
    # Feedback publishes NeedRaised for every need and UrgentNeedRaised beside it for an
    # urgent one: the urgent one's task comes from the latter, due within the hour.
    if not event.urgent:
        await _need(session, "open_need", event)


async def on_urgent_need(event: UrgentNeedRaised, session: AsyncSession) -> None:
    await _need(session, "urgent_need", event)


async def on_rating(event: RatingGiven, session: AsyncSession) -> None:
    """The ratings read model first (its own handler, unchanged), then: two low ratings in
    a row, this one the latter, make a signal."""
    await record_rating(event, session)
    if event.rating > LOW_RATING:
        return
    latest = list(
        (
            await session.execute(
                select(PatientRating.event_id, PatientRating.rating)
                .where(PatientRating.patient_id == event.patient_id)
                .order_by(PatientRating.at.desc(), PatientRating.id.desc())
                .limit(LOW_IN_A_ROW)
            )
        ).all()
    )
    if len(latest) < LOW_IN_A_ROW or str(event.id) not in {row.event_id for row in latest}:
        return  # a first rating, or an old one arriving late
    if all(row.rating <= LOW_RATING for row in latest):
        await signal_for_patient(
            session,
            "low_ratings",
            event.patient_id,
            f"rating:{event.id}",
            event.occurred_at,
            "two low ratings in a row",
        )
