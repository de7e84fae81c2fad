"""A clinic's special days (closed, or open at other hours) and what they do to a dose
reminder, for the planner (planner/ahead.py).

On a closed day the dose reminder is not sent: it is planned already `suppressed`, with the
reason, so that a coordinator sees why nothing went (nothing is silently dropped). On a day
with other hours, a dose time before the opening or after the closing moves to the opening
(quiet hours still apply), and its window runs from there. Other days are as they were.
Dates are the local dates of the patients' own time zones, as every plan is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from services.scheduler.risk_models import ClinicDay
from services.scheduler.timeplan import local_instant, reminder_time
from shared.db import Database

CLOSED_REASON = "the clinic is closed that day"


@dataclass(frozen=True)
class DosePlan:
    due: datetime
    start: datetime  # the window's start: the chosen time, or the opening it moved to
    state: str  # planned, or suppressed on a closed day
    reason: str | None

    def expires(self, window: timedelta) -> datetime:
        return self.start + window


def dose_plan(
    day: date,
    dose_time: time,
    zone: str,
    quiet_start: time,
    quiet_end: time,
    calendar_day: ClinicDay | None,
) -> DosePlan:
    at = dose_time
    if calendar_day is not None and calendar_day.closed:
        moment = local_instant(day, at, zone)
        return DosePlan(moment, moment, "suppressed", CLOSED_REASON)
    opens = calendar_day.opens_at if calendar_day is not None else None
    closes = calendar_day.closes_at if calendar_day is not None else None
    if opens is not None and closes is not None and not opens <= at < closes:
        at = opens
    due = reminder_time(day, at, zone, quiet_start, quiet_end)
    return DosePlan(due, local_instant(day, at, zone), "planned", None)


async def special_days(db: Database, now: datetime, days: int) -> dict[date, dict[int, ClinicDay]]:
    """Special days that may fall in a plan from `now` for `days` days in any time zone."""
    first, last = now.date() - timedelta(days=1), now.date() + timedelta(days=days + 1)
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(ClinicDay).where(ClinicDay.day >= first, ClinicDay.day <= last)
            )
        ).scalars()
        found: dict[date, dict[int, ClinicDay]] = {}
        for row in rows:
            found.setdefault(row.day, {})[row.clinic_id] = row
    return found
