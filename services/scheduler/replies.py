"""Patients' replies, as the feedback service announced them (`ReplyReceived`: the kind and
when, never the words): a read model the scheduler keeps so a study's analysis file counts
replies in its engagement columns beside the lesson ratings (ratings.py) without reading
the feedback service's tables. Idempotent on the event's id: a redelivery adds nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from services.scheduler.models import Base, Patient
from shared.db import UTCDateTime
from shared.messages import ReplyReceived

_ID = BigInteger().with_variant(Integer(), "sqlite")


class PatientReply(Base):
    __tablename__ = "patient_replies"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("scheduler.patients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # shared.messages.ReplyKind
    at: Mapped[datetime] = mapped_column(UTCDateTime())


async def record_reply(event: ReplyReceived, session: AsyncSession) -> None:
    if await session.get(Patient, event.patient_id) is None:
        return  # a patient purged since, or of another installation
    dialect = session.get_bind().dialect.name
    insert = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(PatientReply)
    # ON CONFLICT: two deliveries of one event at once (two workers) store it once.
    await session.execute(
        insert.values(
            event_id=str(event.id), patient_id=event.patient_id, kind=event.reply_kind, at=event.at
        ).on_conflict_do_nothing(index_elements=["event_id"])
    )
