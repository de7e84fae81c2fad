"""A clinic's training programme start (admins): from it, not from each account's creation,
its staff's quiz rounds count, so that a clinic's staff take the baseline together when
the programme begins (an account created later starts at its creation). Fixed once any of
the clinic's staff has answered a round: moving it then would move answered rounds."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select

from services.content.models import QuizAttempt, TrainingProgramme
from services.content.training.people import clinic_hours, of_clinic, trainees
from services.content.training.schemas import ProgrammeIn, ProgrammeOut
from shared.access.tokens import Principal
from shared.db import Database
from shared.errors import Conflict, InvalidInput, NotFound


def _out(row: TrainingProgramme) -> ProgrammeOut:
    return ProgrammeOut(clinic_id=row.clinic_id, starts_at=row.starts_at, set_at=row.set_at)


async def set_start(
    db: Database,
    access_db: Database,
    principal: Principal,
    clinic_id: int,
    data: ProgrammeIn,
    now: datetime,
) -> ProgrammeOut:
    hours = (await clinic_hours(access_db)).get(clinic_id)
    if hours is None:
        raise NotFound(f"no clinic {clinic_id}")
    try:
        day = date.fromisoformat(data.starts_on)
    except ValueError:
        raise InvalidInput(f"starts_on: {data.starts_on} is not a day of the calendar") from None
    # The day begins at midnight where the clinic is.
    starts_at = datetime.combine(day, time(), ZoneInfo(hours.time_zone))
    staff_ids = [p.id for p in of_clinic(await trainees(access_db, db), clinic_id)]
    async with db.transaction() as session:
        answered = (
            await session.execute(
                select(QuizAttempt.id).where(QuizAttempt.staff_id.in_(staff_ids)).limit(1)
            )
        ).first()
        row = await session.get(TrainingProgramme, clinic_id, with_for_update=True)
        if row is not None and row.starts_at == starts_at:
            return _out(row)  # the same again: nothing changes
        if answered is not None:
            raise Conflict(
                f"clinic {clinic_id}'s staff have answered quiz rounds: its programme start "
                "stays as it is"
            )
        if row is None:
            row = TrainingProgramme(clinic_id=clinic_id, starts_at=starts_at, set_at=now, set_by="")
            session.add(row)
        row.starts_at, row.set_at, row.set_by = starts_at, now, principal.token_id
    return _out(row)


async def list_starts(db: Database, principal: Principal) -> list[ProgrammeOut]:
    """The programme starts of the clinics the caller may see."""
    async with db.sessions() as session:
        rows = await session.execute(
            select(TrainingProgramme).order_by(TrainingProgramme.clinic_id)
        )
        return [_out(r) for r in rows.scalars() if principal.can_access_clinic(r.clinic_id)]
