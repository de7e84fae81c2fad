"""Bounded request parameters: an id or a count out of range is a 400 with the reason,
never a database error (a 500) or an out-of-range value reaching SQL.

Date-time filters (`since`, `until`) are RFC 3339 with a UTC offset, checked here: typed
as `datetime`, Litestar would also read `0.5` as a Unix time (found by fuzzing).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from litestar.exceptions import ValidationException
from litestar.params import PathParameter, QueryParameter

MAX_ID = 2**31 - 1  # ids are INTEGER in some tables (clinic ids in the audit log)
MAX_DAYS = 366  # the longest adherence window

RowId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
QueryRowId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]
Limit = Annotated[int, QueryParameter(ge=1, le=1000)]
Days = Annotated[
    int,
    QueryParameter(
        ge=1,
        le=MAX_DAYS,
        description=f"How many days back from today (1-{MAX_DAYS}); more is a 400",
    ),
]

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
_FRACTION = re.compile(r"(\.\d{6})\d+")
INSTANT_FORMAT = "an RFC 3339 date-time with a UTC offset, e.g. 2026-11-20T00:00:00+08:00"
QueryInstant = Annotated[
    str | None,
    QueryParameter(format="date-time", description=f"A moment: {INSTANT_FORMAT}"),
]


def instant(value: str | None, name: str) -> datetime | None:
    """A `QueryInstant`'s value as an aware datetime; a 400 naming the parameter otherwise."""
    if value is None:
        return None
    if _RFC3339.fullmatch(value):
        try:
            # Beyond microseconds, digits are dropped: datetime holds no more.
            return datetime.fromisoformat(_FRACTION.sub(r"\1", value.upper()))
        except ValueError:  # well formed but no such moment (month 13, 25 o'clock)
            pass
    message = f"{name} must be {INSTANT_FORMAT}"
    raise ValidationException(
        detail=f"Validation failed: {message}",
        extra=[{"message": message, "key": name, "source": "query"}],
    )
