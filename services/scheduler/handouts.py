"""Which printed lesson handout a patient was given, and when (issue 21 part 4): the
routine-care arm of a study gets lessons on paper at the counter instead of pushes, and the
trial needs to know who got what. The PDF itself comes from the content service
(`GET .../lessons/{key}/handout`); here only the fact is kept.

The lesson is checked against the curriculum the scheduler already holds (the published
versions `CurriculumPublished` brought), so a typo is a 400 naming the field, not a row
that points at nothing. Giving the same lesson twice on one day (a double click, two
staff) keeps one row: the answer says it was already recorded."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from services.scheduler.models import Base, TrackVersion
from services.scheduler.patients import Scheduler, load_patient
from shared.access.authors import author_name
from shared.access.tokens import Principal
from shared.db import UTCDateTime
from shared.errors import InvalidInput
from shared.messages import CurriculumPublished
from shared.params import MAX_ID

_ID = BigInteger().with_variant(Integer(), "sqlite")


class HandoutGiven(Base):
    __tablename__ = "handouts_given"
    __table_args__ = (UniqueConstraint("patient_id", "track", "lesson_key", "given_on"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(_ID, ForeignKey("scheduler.patients.id"), index=True)
    track: Mapped[str] = mapped_column(String(40))
    lesson_key: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8))
    given_on: Mapped[date] = mapped_column(Date())  # the clinic's day
    given_at: Mapped[datetime] = mapped_column(UTCDateTime())
    given_by: Mapped[str] = mapped_column(String(16))  # token id
    given_by_name: Mapped[str | None] = mapped_column(String(100))  # kept: tokens expire


class HandoutIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    track: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    lesson_key: Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
    # None: the newest published version the scheduler knows
    version: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)] | None = None
    language: Literal["zh-CN", "en"] | None = None  # None: the patient's
    # No time field: a handout is recorded when it is handed over, at the counter.


class HandoutOut(msgspec.Struct, kw_only=True):
    id: int
    patient_id: int
    track: str
    lesson_key: str
    version: int
    language: str
    given_on: date
    given_at: datetime
    given_by: str
    given_by_name: str | None
    already_recorded: bool = False


def _out(row: HandoutGiven, already: bool = False) -> HandoutOut:
    return HandoutOut(
        id=row.id,
        patient_id=row.patient_id,
        track=row.track,
        lesson_key=row.lesson_key,
        version=row.version,
        language=row.language,
        given_on=row.given_on,
        given_at=row.given_at,
        given_by=row.given_by,
        given_by_name=row.given_by_name,
        already_recorded=already,
    )


async def _published(ctx: Scheduler, data: HandoutIn) -> int:
    """The version the handout is of, after checking the lesson is in it (else 400)."""
    query = select(TrackVersion.version, TrackVersion.event).where(TrackVersion.track == data.track)
    if data.version is not None:
        query = query.where(TrackVersion.version == data.version)
    async with ctx.db.sessions() as session:
        row = (await session.execute(query.order_by(TrackVersion.version.desc()))).first()
    if row is None:
        which = f"version {data.version} of " if data.version is not None else ""
        raise InvalidInput(f"track: no published {which}track {data.track!r}")
    event = msgspec.json.decode(row.event, type=CurriculumPublished)
    if not any(lesson.key == data.lesson_key for lesson in event.lessons):
        raise InvalidInput(
            f"lesson_key: track {data.track!r} version {row.version} has no lesson "
            f"{data.lesson_key!r}"
        )
    return int(row.version)


async def record_handout(
    ctx: Scheduler, principal: Principal, patient_id: int, data: HandoutIn
) -> HandoutOut:
    given_at = datetime.now(UTC)
    version = await _published(ctx, data)
    name = await author_name(ctx.access_db, principal.token_id)
    async with ctx.db.transaction() as session:
        patient = await load_patient(session, principal, patient_id)
        given_on = given_at.astimezone(ZoneInfo(patient.time_zone)).date()
        existing = (
            await session.execute(
                select(HandoutGiven).where(
                    HandoutGiven.patient_id == patient.id,
                    HandoutGiven.track == data.track,
                    HandoutGiven.lesson_key == data.lesson_key,
                    HandoutGiven.given_on == given_on,
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            return _out(existing, already=True)
        row = HandoutGiven(
            patient_id=patient.id,
            track=data.track,
            lesson_key=data.lesson_key,
            version=version,
            language=data.language or patient.language,
            given_on=given_on,
            given_at=given_at,
            given_by=principal.token_id,
            given_by_name=name,
        )
        session.add(row)
        try:
            await session.flush()
        except IntegrityError:  # a second click in the same instant: the first one counts
            raise InvalidInput("handout: already being recorded; reload the list") from None
        return _out(row)


async def handouts_of(ctx: Scheduler, principal: Principal, patient_id: int) -> list[HandoutOut]:
    async with ctx.db.sessions() as session:
        await load_patient(session, principal, patient_id)
        return await given_to(session, patient_id)


async def given_to(session: AsyncSession, patient_id: int) -> list[HandoutOut]:
    """The patient's handouts, newest first, in a session the caller opened (the patient
    page reads them with others)."""
    rows = (
        await session.execute(
            select(HandoutGiven)
            .where(HandoutGiven.patient_id == patient_id)
            .order_by(HandoutGiven.given_at.desc(), HandoutGiven.id.desc())
        )
    ).scalars()
    return [_out(row) for row in rows]
