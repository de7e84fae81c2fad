"""A clinic's weekly opening hours and take-home practice: read and set them; a change
re-plans the clinic's unreleased dose reminders and take-home notices at once, set-based
(calendar_days.replan).

The week is all seven days or none: each weekday's opening intervals ("07:00-11:30", a
split day as two), or [] for a weekday the clinic is closed. A week left out (None) is a
clinic without weekly hours, whose dose reminders keep their times. A PUT that named only
some weekdays is refused rather than read as "closed the others": closing a day stops its
dose reminders, which must never happen by omission. Special days override their weekday.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from itertools import pairwise

import msgspec

from services.scheduler.calendar_days import replan
from services.scheduler.clinic_calendar import WEEKDAYS, Interval, parse_interval
from services.scheduler.patients import Scheduler
from services.scheduler.risk_models import ClinicCalendar
from shared.access.clinics import get_clinic
from shared.access.tokens import Principal
from shared.errors import InvalidInput

_INTERVAL = re.compile(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d")
MAX_INTERVALS = 3  # a split day is two; three covers an evening session too
Week = dict[str, list[str]]


class InvalidHours(InvalidInput):
    """Well-formed JSON whose hours make no sense: 422, naming the field."""

    status_code = 422


class CalendarIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # {"mon": ["07:00-11:30", "14:00-17:00"], ..., "sun": []}; None: no weekly hours
    week: Week | None = None
    take_home: bool = False  # closed days are covered by take-home doses: notice the day before


class CalendarOut(msgspec.Struct, kw_only=True):
    clinic_id: int
    week: Week | None
    take_home: bool
    updated_at: datetime | None
    replanned: int | None = None  # plans made again, on a change


def valid_week(week: Week) -> Week:
    """The week in weekday order, or InvalidHours naming the field."""
    for name in week:
        if name not in WEEKDAYS:
            raise InvalidHours(f"week.{name}: unknown weekday (use {', '.join(WEEKDAYS)})")
    clean: Week = {}
    for name in WEEKDAYS:
        if name not in week:
            raise InvalidHours(f"week.{name}: missing (give its hours, or [] when closed)")
        texts = week[name]
        if len(texts) > MAX_INTERVALS:
            raise InvalidHours(f"week.{name}: at most {MAX_INTERVALS} intervals a day")
        intervals: list[tuple[Interval, int]] = []
        for index, text in enumerate(texts):
            where = f"week.{name}[{index}]"
            if not _INTERVAL.fullmatch(text):
                raise InvalidHours(f"{where}: {text!r} is not HH:MM-HH:MM (24-hour)")
            opens, closes = parse_interval(text)
            if closes <= opens:
                raise InvalidHours(f"{where}: {text} ends before it starts")
            intervals.append(((opens, closes), index))
        intervals.sort()
        for (before, first), (after, second) in pairwise(intervals):
            if after[0] < before[1]:
                raise InvalidHours(
                    f"week.{name}[{max(first, second)}]: overlaps week.{name}[{min(first, second)}]"
                )
        clean[name] = [texts[index] for _, index in intervals]
    if not any(clean.values()):
        raise InvalidHours("week: closed every day (leave week out for no weekly hours)")
    return clean


def _out(row: ClinicCalendar | None, clinic_id: int, replanned: int | None = None) -> CalendarOut:
    if row is None:
        return CalendarOut(clinic_id=clinic_id, week=None, take_home=False, updated_at=None)
    return CalendarOut(
        clinic_id=clinic_id,
        week=row.week,
        take_home=row.take_home,
        updated_at=row.updated_at,
        replanned=replanned,
    )


async def get_calendar(ctx: Scheduler, principal: Principal, clinic_id: int) -> CalendarOut:
    await get_clinic(ctx.access_db, principal, clinic_id)  # 404 outside scope
    async with ctx.db.sessions() as session:
        return _out(await session.get(ClinicCalendar, clinic_id), clinic_id)


async def set_calendar(
    ctx: Scheduler, principal: Principal, clinic_id: int, data: CalendarIn
) -> CalendarOut:
    await get_clinic(ctx.access_db, principal, clinic_id)  # scope before the body's sense
    week = valid_week(data.week) if data.week is not None else None
    async with ctx.db.transaction() as session:
        row = await session.get(ClinicCalendar, clinic_id, with_for_update=True)
        if row is None:
            row = ClinicCalendar(clinic_id=clinic_id)
            session.add(row)
        row.week, row.take_home = week, data.take_home
        row.updated_by, row.updated_at = principal.token_id, datetime.now(UTC)
    return _out(row, clinic_id, await replan(ctx, clinic_id, None))
