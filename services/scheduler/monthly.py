"""A patient's month, day by day: dosed, missed, paused, discharged (the console's
adherence calendar). A day is read in the patient's time zone; what happened that day
decides, in this order: a recorded dose; a pause at any moment of it (compulsory
detoxification is not a missed day); a discharge at any moment of it; otherwise, while
active, missed (or still due, today). Days before enrolment and after today say so."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Literal

import msgspec
from sqlalchemy import select

from services.scheduler.models import Dose, Patient, PatientStateChange
from services.scheduler.patients import Scheduler, load_patient
from services.scheduler.timeplan import local_instant, local_today
from shared.access.tokens import Principal

DayState = Literal["dosed", "missed", "paused", "discharged", "due", "future", "not_enrolled"]
MONTH_PATTERN = r"^(19|20)\d\d-(0[1-9]|1[0-2])$"


class CalendarDay(msgspec.Struct, kw_only=True):
    day: date
    state: DayState
    mg: float | None  # the dose recorded that day, if any and if its amount was given


class MonthCalendar(msgspec.Struct, kw_only=True):
    patient_id: int
    month: str  # YYYY-MM
    today: date  # in the patient's time zone
    days: list[CalendarDay]  # every day of the month, first to last
    counts: dict[str, int]  # days per state


def day_states(
    first: date,
    last: date,
    today: date,
    zone: str,
    changes: Sequence[tuple[datetime, str]],
    doses: dict[date, float | None],
) -> list[CalendarDay]:
    """Each day from `first` to `last`, given the patient's state changes (oldest first:
    the state holds from its moment until the next change) and doses by local day."""
    days = []
    day = first
    while day <= last:
        start = local_instant(day, time(0), zone)
        end = local_instant(day + timedelta(days=1), time(0), zone)
        during = {
            state
            for i, (at, state) in enumerate(changes)
            if at < end and (i + 1 == len(changes) or changes[i + 1][0] > start)
        }
        state: DayState
        if day > today:
            state = "future"
        elif day in doses:
            state = "dosed"
        elif "paused" in during:
            state = "paused"
        elif "discharged" in during:
            state = "discharged"
        elif "active" in during:
            state = "due" if day == today else "missed"
        else:
            state = "not_enrolled"
        days.append(CalendarDay(day=day, state=state, mg=doses.get(day)))
        day += timedelta(days=1)
    return days


def _known_changes(
    patient: Patient, rows: Sequence[tuple[datetime, str]]
) -> list[tuple[datetime, str]]:
    # A patient written without its history (a benchmark's bulk insert) is read as the
    # migration reads one from before the history: active since enrolment, then its state.
    if rows:
        return list(rows)
    known = [(patient.enrolled_at, "active")]
    if patient.state != "active":
        known.append((patient.updated_at, patient.state))
    return known


async def month_calendar(
    ctx: Scheduler, principal: Principal, patient_id: int, month: str | None
) -> MonthCalendar:
    async with ctx.db.sessions() as session:
        patient = await load_patient(session, principal, patient_id)
        today = local_today(ctx.clock(), patient.time_zone)
        first = date.fromisoformat(f"{month}-01") if month else today.replace(day=1)
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        rows = (
            await session.execute(
                select(PatientStateChange.at, PatientStateChange.state)
                .where(PatientStateChange.patient_id == patient_id)
                .order_by(PatientStateChange.at, PatientStateChange.id)
            )
        ).all()
        doses = (
            await session.execute(
                select(Dose.local_date, Dose.mg).where(
                    Dose.patient_id == patient_id,
                    Dose.local_date >= first,
                    Dose.local_date <= last,
                )
            )
        ).all()
    changes = _known_changes(patient, [(at, state) for at, state in rows])
    days = day_states(first, last, today, patient.time_zone, changes, {d: mg for d, mg in doses})
    counts: dict[str, int] = {}
    for entry in days:
        counts[entry.state] = counts.get(entry.state, 0) + 1
    return MonthCalendar(
        patient_id=patient_id,
        month=first.strftime("%Y-%m"),
        today=today,
        days=days,
        counts=counts,
    )
