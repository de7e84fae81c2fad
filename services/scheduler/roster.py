"""A clinic's day, patient by patient: who is due, who has been dosed, who has not come.

The counter's view (the console's Today page): the active patients of a clinic with the
dose recorded on the clinic's local day, if any. One statement, ordered by dose time, so
a clinic of hundreds is one round trip.
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec
from sqlalchemy import and_, bindparam, select

from services.scheduler.models import Dose, Patient
from services.scheduler.patients import Scheduler
from services.scheduler.reports import clinic_today
from shared.access.tokens import Principal
from shared.errors import InvalidInput, NotFound


class RosterEntry(msgspec.Struct, kw_only=True):
    patient_id: int
    clinic_number: str
    display_name: str
    dose_time: str  # HH:MM, the patient's own
    dosed_at: datetime | None  # the observed dose of the day, if recorded
    mg: float | None


class Roster(msgspec.Struct, kw_only=True):
    clinic_id: int
    local_date: date
    patients: list[RosterEntry]  # active patients, by dose time then clinic number
    truncated: bool  # more active patients than `limit`


_ROSTER = (
    select(
        Patient.id,
        Patient.clinic_number,
        Patient.display_name,
        Patient.dose_time,
        Dose.taken_at,
        Dose.mg,
    )
    .outerjoin(Dose, and_(Dose.patient_id == Patient.id, Dose.local_date == bindparam("day")))
    .where(Patient.clinic_id == bindparam("clinic_id"), Patient.state == "active")
    .order_by(Patient.dose_time, Patient.clinic_number)
    .limit(bindparam("limit"))
)


async def clinic_roster(
    ctx: Scheduler, principal: Principal, clinic_id: int, day: date | None, limit: int
) -> Roster:
    if not principal.can_access_clinic(clinic_id):
        raise NotFound(f"no clinic {clinic_id}")
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000")
    day = day or await clinic_today(ctx, clinic_id)
    params = {"clinic_id": clinic_id, "day": day, "limit": limit + 1}
    async with ctx.db.autocommit() as conn:
        rows = (await conn.execute(_ROSTER, params)).all()
    return Roster(
        clinic_id=clinic_id,
        local_date=day,
        patients=[
            RosterEntry(
                patient_id=row[0],
                clinic_number=row[1],
                display_name=row[2],
                dose_time=row[3].strftime("%H:%M"),
                dosed_at=row[4],
                mg=row[5],
            )
            for row in rows[:limit]
        ],
        truncated=len(rows) > limit,
    )
