"""A clinic's calendar (weekly hours, special days) and what it does to a dose reminder, for
the planner (planner/ahead.py).

A day's hours are its special day's if it has one (closed, or open at other hours), else
its weekday's from the clinic's weekly hours (one or more intervals, or closed), else none:
a clinic without a calendar keeps every dose time. On a closed day the dose reminder is not
sent: it is planned already `suppressed`, with the reason, so that a coordinator sees why
nothing went (nothing is silently dropped). A dose time outside the day's hours moves to
the next opening that day (after the last closing: to the first opening; quiet hours still
apply), and its window runs from there. Dates are the local dates of the patients' own time
zones, as every plan is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.risk_models import ClinicCalendar, ClinicDay
from services.scheduler.timeplan import local_instant, reminder_time
from shared.db import Database

CLOSED_REASON = "the clinic is closed that day"
SURVEY_WAIT_DAYS = 60  # the longest run of closed days a survey question waits out
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # ISO order: mon is 1

Interval = tuple[time, time]
# A day's opening intervals in order; () closed; None: no hours (every dose time stays).
Hours = tuple[Interval, ...] | None


@dataclass(frozen=True)
class DosePlan:
    due: datetime
    start: datetime  # the window's start: the chosen time, or the opening it moved to
    state: str  # planned, or suppressed on a closed day
    reason: str | None

    def expires(self, window: timedelta) -> datetime:
        return self.start + window


def opening_time(at: time, hours: Hours) -> time:
    """`at`, or the next opening that day when it falls outside the hours."""
    if not hours or any(opens <= at < closes for opens, closes in hours):
        return at
    later = [opens for opens, _ in hours if opens > at]
    return later[0] if later else hours[0][0]


def dose_plan(
    day: date, dose_time: time, zone: str, quiet_start: time, quiet_end: time, hours: Hours
) -> DosePlan:
    if hours == ():
        moment = local_instant(day, dose_time, zone)
        return DosePlan(moment, moment, "suppressed", CLOSED_REASON)
    at = opening_time(dose_time, hours)
    due = reminder_time(day, at, zone, quiet_start, quiet_end)
    return DosePlan(due, local_instant(day, at, zone), "planned", None)


def parse_interval(text: str) -> Interval:
    """ "07:00-11:30" (validated by calendar_week.py before it is stored)."""
    opens, closes = text.split("-")
    return time.fromisoformat(opens), time.fromisoformat(closes)


def week_hours(week: dict[str, list[str]]) -> tuple[Hours, ...]:
    """A stored week as each ISO weekday's hours (index 0 is Monday)."""
    return tuple(tuple(parse_interval(text) for text in week.get(name, [])) for name in WEEKDAYS)


def special_hours(entry: ClinicDay) -> Hours:
    if entry.closed:
        return ()
    if entry.opens_at is not None and entry.closes_at is not None:
        return ((entry.opens_at, entry.closes_at),)
    return None


@dataclass
class Calendars:
    """Every clinic's calendar around a plan, read once per planning run."""

    special: dict[date, dict[int, ClinicDay]]
    weeks: dict[int, tuple[Hours, ...]]  # clinics with weekly hours
    take_home: frozenset[int]
    _by_day: dict[date, dict[Hours, list[int]]] = field(default_factory=dict)

    def hours(self, clinic_id: int, day: date) -> Hours:
        entry = self.special.get(day, {}).get(clinic_id)
        if entry is not None:
            return special_hours(entry)
        week = self.weeks.get(clinic_id)
        return week[day.isoweekday() - 1] if week is not None else None

    def clinics_by_hours(self, day: date) -> dict[Hours, list[int]]:
        """The clinics with hours that day, grouped by them (few groups: clinics share
        hours), so that the planner computes one plan per group, not per clinic."""
        found = self._by_day.get(day)
        if found is None:
            found = {}
            for clinic_id in sorted({*self.weeks, *self.special.get(day, {})}):
                hours = self.hours(clinic_id, day)
                if hours is not None:
                    found.setdefault(hours, []).append(clinic_id)
            self._by_day[day] = found
        return found

    def closed_with_take_home(self, day: date) -> list[int]:
        return [c for c in self.clinics_by_hours(day).get((), []) if c in self.take_home]


async def load_calendars(db: Database, now: datetime, days: int) -> Calendars:
    """Special days that may fall in a plan from `now` for `days` days (and the day after,
    for take-home notices) in any time zone, and every clinic's weekly hours."""
    first, last = now.date() - timedelta(days=1), now.date() + timedelta(days=days + 2)
    special: dict[date, dict[int, ClinicDay]] = {}
    weeks: dict[int, tuple[Hours, ...]] = {}
    take_home: set[int] = set()
    async with db.sessions() as session:
        rows = await session.execute(
            select(ClinicDay).where(ClinicDay.day >= first, ClinicDay.day <= last)
        )
        for row in rows.scalars():
            special.setdefault(row.day, {})[row.clinic_id] = row
        for calendar in (await session.execute(select(ClinicCalendar))).scalars():
            if calendar.week is not None:
                weeks[calendar.clinic_id] = week_hours(calendar.week)
            if calendar.take_home:
                take_home.add(calendar.clinic_id)
    return Calendars(special, weeks, frozenset(take_home))


async def survey_start(session: AsyncSession, clinic_id: int, start: datetime) -> datetime:
    """A survey question due on a closed special day that keeps surveys away (the clinic's
    choice, `skip_surveys`) waits for the next day that does not, at the same time of day.

    Only special days: a weekday the clinic is always closed is part of the patients'
    routine (as for lessons, whose weekdays are chosen per patient), and waiting is not
    dropping: the question is asked, a day or a holiday later."""
    first = start.date()
    away = set(
        (
            await session.execute(
                select(ClinicDay.day).where(
                    ClinicDay.clinic_id == clinic_id,
                    ClinicDay.skip_surveys.is_(True),
                    ClinicDay.day >= first,
                    ClinicDay.day <= first + timedelta(days=SURVEY_WAIT_DAYS),
                )
            )
        ).scalars()
    )
    day = first
    while day in away:
        day += timedelta(days=1)
    return start if day == first else datetime.combine(day, start.time(), tzinfo=start.tzinfo)
