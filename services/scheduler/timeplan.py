"""Local-time arithmetic for reminders: pure functions, unit-tested around DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_instant(day: date, at: time, zone: str) -> datetime:
    """`day` at wall-clock `at` in `zone`, as UTC.

    A time that does not exist that day (clocks jump forward) lands after the jump, at the
    same distance from midnight; an ambiguous one (clocks go back) takes its first
    occurrence. Both are what a person expects of "07:30 every day".
    """
    local = datetime.combine(day, at, tzinfo=ZoneInfo(zone))  # fold=0: first/earlier offset
    return local.astimezone(UTC)


def in_quiet_hours(at: time, quiet_start: time, quiet_end: time) -> bool:
    if quiet_start == quiet_end:
        return False
    if quiet_start < quiet_end:
        return quiet_start <= at < quiet_end
    return at >= quiet_start or at < quiet_end  # the window crosses midnight


def reminder_time(day: date, at: time, zone: str, quiet_start: time, quiet_end: time) -> datetime:
    """When a reminder for `day` at `at` should go out, moved out of quiet hours.

    A time inside quiet hours waits until they end: the same morning for an early time, the
    next morning for a late one (its window will then usually expire it: a dose reminder
    must not arrive a day late).
    """
    due = local_instant(day, at, zone)
    wall = due.astimezone(ZoneInfo(zone))
    if not in_quiet_hours(wall.time(), quiet_start, quiet_end):
        return due
    end_day = wall.date()
    if quiet_start > quiet_end and wall.time() >= quiet_start:
        end_day += timedelta(days=1)
    return local_instant(end_day, quiet_end, zone)


def local_today(now: datetime, zone: str) -> date:
    return now.astimezone(ZoneInfo(zone)).date()
