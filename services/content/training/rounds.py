"""The provider knowledge quiz's schedule, as the trial's: baseline, then 3, 6 and 9 months
after a staff member's training start (their account's creation). A round is due from its
date until the next round's date (the last one for 3 months); after that it is missed.
Pure functions of a `now`, so tests drive the calendar."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime

from shared.errors import NotFound

ROUNDS: dict[str, int] = {"baseline": 0, "month-3": 3, "month-6": 6, "month-9": 9}
_LAST_CLOSES = 12
NAMES = {month: name for name, month in ROUNDS.items()}


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later; the 31st becomes the month's last day."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def round_month(name: str) -> int:
    month = ROUNDS.get(name)
    if month is None:
        raise NotFound(f"no quiz round {name!r}: one of {', '.join(ROUNDS)}")
    return month


@dataclass(frozen=True)
class Window:
    name: str
    month: int
    opens_at: datetime
    closes_at: datetime

    def status(self, now: datetime, taken: bool) -> str:
        if taken:
            return "done"
        if now < self.opens_at:
            return "upcoming"
        return "due" if now < self.closes_at else "missed"


def window(started_at: datetime, month: int) -> Window:
    months = sorted(ROUNDS.values())
    later = [m for m in months if m > month]
    closes = later[0] if later else _LAST_CLOSES
    return Window(
        NAMES[month], month, add_months(started_at, month), add_months(started_at, closes)
    )


def windows(started_at: datetime) -> list[Window]:
    return [window(started_at, month) for month in sorted(ROUNDS.values())]
