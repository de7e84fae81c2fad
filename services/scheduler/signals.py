"""A clinic's week of warning signs, patient by patient, counted in SQL: days without an
observed dose since enrolment, messages that failed against those that reached a channel,
and opting out. The console's "who is struggling" page ranks from it (with alerts, needs
and ratings from their own APIs) instead of reading a week of rosters and messages.

Three grouped statements over one clinic's rows, whatever its size. A day counts as
missed for a patient active now who was enrolled by then and has no dose recorded on it;
today is left out (the patient may still come).
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import func, select

from services.scheduler.models import Dose, Message, Patient
from services.scheduler.patients import Scheduler
from services.scheduler.reports import clinic_today
from shared.access.tokens import Principal
from shared.errors import InvalidInput, NotFound

_REACHED = ("sent", "delivered")


class PatientSignals(msgspec.Struct, kw_only=True):
    patient_id: int
    clinic_number: str
    display_name: str
    days: int  # days of the window since enrolment
    missed_days: int  # of those, days without an observed dose
    failed_messages: int
    reached_messages: int  # sent or delivered
    opted_out: bool


class ClinicSignals(msgspec.Struct, kw_only=True):
    clinic_id: int
    first_day: date
    last_day: date  # yesterday at the clinic
    patients: list[PatientSignals]  # every active patient, by clinic number


async def clinic_signals(
    ctx: Scheduler, principal: Principal, clinic_id: int, days: int
) -> ClinicSignals:
    if not principal.can_access_clinic(clinic_id):
        raise NotFound(f"no clinic {clinic_id}")
    if not 1 <= days <= 31:
        raise InvalidInput("days must be between 1 and 31")
    last = await clinic_today(ctx, clinic_id) - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    active = (Patient.clinic_id == clinic_id, Patient.state == "active")
    patients = select(
        Patient.id,
        Patient.clinic_number,
        Patient.display_name,
        Patient.enrolled_at,
        Patient.time_zone,
        Patient.opted_out_at.is_not(None),
    ).where(*active)
    dosed = (
        select(Dose.patient_id, func.count())
        .join(Patient, Patient.id == Dose.patient_id)
        .where(*active, Dose.local_date.between(first, last))
        .group_by(Dose.patient_id)
    )
    outcomes = (
        select(
            Message.patient_id,
            func.count().filter(Message.state == "failed"),
            func.count().filter(Message.state.in_(_REACHED)),
        )
        .where(Message.clinic_id == clinic_id, Message.local_date.between(first, last))
        .group_by(Message.patient_id)
    )
    async with ctx.db.autocommit() as conn:
        rows = (await conn.execute(patients.order_by(Patient.clinic_number))).all()
        doses = {pid: n for pid, n in (await conn.execute(dosed)).all()}
        sent = {pid: (f, r) for pid, f, r in (await conn.execute(outcomes)).all()}
    found = []
    for pid, number, name, enrolled_at, zone, opted_out in rows:
        since = max(first, enrolled_at.astimezone(ZoneInfo(zone)).date())
        counted = max((last - since).days + 1, 0)
        failed, reached = sent.get(pid, (0, 0))
        found.append(
            PatientSignals(
                patient_id=pid,
                clinic_number=number,
                display_name=name,
                days=counted,
                missed_days=max(counted - doses.get(pid, 0), 0),
                failed_messages=failed,
                reached_messages=reached,
                opted_out=bool(opted_out),
            )
        )
    return ClinicSignals(clinic_id=clinic_id, first_day=first, last_day=last, patients=found)
