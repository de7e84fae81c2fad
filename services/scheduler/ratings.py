"""Patients' lesson ratings, as the feedback service announced them (`RatingGiven`): a read
model the scheduler keeps so a study's analysis file can count engagement (ratings given
and their mean) without reading the feedback service's tables. Idempotent on the event's
id: a redelivered event adds nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, SmallInteger, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from services.scheduler.models import Base, Patient
from shared.db import UTCDateTime
from shared.messages import RatingGiven

_ID = BigInteger().with_variant(Integer(), "sqlite")


class PatientRating(Base):
    __tablename__ = "patient_ratings"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    rating: Mapped[int] = mapped_column(SmallInteger)
    track: Mapped[str | None] = mapped_column(String(40))
    lesson_key: Mapped[str | None] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


async def record_rating(event: RatingGiven, session: AsyncSession) -> None:
    if await session.get(Patient, event.patient_id) is None:
        return  # a patient purged since, or of another installation
    seen = await session.scalar(
        select(PatientRating.id).where(PatientRating.event_id == str(event.id))
    )
    if seen is None:
        session.add(
            PatientRating(
                event_id=str(event.id),
                patient_id=event.patient_id,
                rating=event.rating,
                track=event.track,
                lesson_key=event.lesson_key,
                at=event.occurred_at,
            )
        )
