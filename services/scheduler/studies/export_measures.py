"""The analysis file's measures, counted by the database: one grouped statement a measure
over all of a study's participants, never their rows one by one.

Each participant's periods (time point, first and last day, last day followed) are worked
out in Python (export.py: months after a baseline, shortened by a loss) and handed to the
database as one JSON parameter, read as a table (`json_to_recordset` on PostgreSQL,
`json_each` on SQLite): however many participants, a statement has one parameter, and it
returns one row per participant and time point, which export.py joins by that pair.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Date, Integer, String, and_, case, func, select, text, true
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from services.scheduler.assessment_models import Assessment
from services.scheduler.models import Dose, LessonProgress, UrineTest
from services.scheduler.ratings import PatientRating
from services.scheduler.replies import PatientReply
from shared.db import Database

Key = tuple[int, str]  # (patient id, time point)

_POSTGRES = text(
    "SELECT * FROM json_to_recordset(CAST(:periods AS json)) "
    "AS p(patient_id bigint, time_point text, first_day date, last_day date, followed_to date)"
)
_SQLITE = text(
    "SELECT json_extract(value, '$.patient_id') AS patient_id,"
    " json_extract(value, '$.time_point') AS time_point,"
    " json_extract(value, '$.first_day') AS first_day,"
    " json_extract(value, '$.last_day') AS last_day,"
    " json_extract(value, '$.followed_to') AS followed_to"
    " FROM json_each(:periods)"
)


@dataclass(frozen=True)
class Period:
    patient_id: int
    time_point: str
    first: date
    last: date
    followed_to: date  # the last day followed: before a loss to follow-up, else `last`


@dataclass
class Measured:
    """A participant's counts in one period (zero where nothing happened)."""

    days_dosed: int = 0
    urine_tests: int = 0
    urine_negative: int = 0
    lessons_sent: int = 0
    lessons_opened: int = 0
    ratings: int = 0
    rating_sum: int = 0
    replies: int = 0
    scores: dict[str, Any] | None = None  # "instrument.score" -> value, at this time point


def _periods(db: Database, periods: Sequence[Period]) -> Subquery:
    payload = json.dumps(
        [
            {
                "patient_id": p.patient_id,
                "time_point": p.time_point,
                "first_day": p.first.isoformat(),
                "last_day": p.last.isoformat(),
                "followed_to": p.followed_to.isoformat(),
            }
            for p in periods
        ]
    )
    statement = (_SQLITE if db.is_sqlite else _POSTGRES).bindparams(periods=payload)
    return statement.columns(
        patient_id=Integer,
        time_point=String,
        first_day=Date,
        last_day=Date,
        followed_to=Date,
    ).subquery("periods")


def _utc_day(db: Database, column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp (as `at.date()` of the aware value in Python)."""
    return func.date(column if db.is_sqlite else func.timezone("UTC", column))


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


async def measure(db: Database, periods: Sequence[Period]) -> dict[Key, Measured]:
    """Every measure of every period, by (patient, time point)."""
    found: dict[Key, Measured] = defaultdict(Measured)
    if not periods:
        return found
    p = _periods(db, periods)
    by = (p.c.patient_id, p.c.time_point)

    def within(day: Any, last: Any = p.c.last_day) -> ColumnElement[bool]:
        return and_(day >= p.c.first_day, day <= last)

    statements: dict[str, Any] = {
        # One row a patient and local day (a unique key): counting rows counts days dosed.
        "doses": select(*by, func.count()).join(
            Dose,
            and_(Dose.patient_id == p.c.patient_id, within(Dose.local_date, p.c.followed_to)),
        ),
        "urine": select(*by, func.count(), _count(UrineTest.result == "negative")).join(
            UrineTest, and_(UrineTest.patient_id == p.c.patient_id, within(UrineTest.taken_on))
        ),
        # The day as the database gives it, as the export always counted lessons.
        "lessons": select(*by, func.count(), _count(LessonProgress.state == "opened")).join(
            LessonProgress,
            and_(
                LessonProgress.patient_id == p.c.patient_id,
                LessonProgress.state != "skipped",
                within(func.date(LessonProgress.at)),
            ),
        ),
        "ratings": select(*by, func.count(), func.sum(PatientRating.rating)).join(
            PatientRating,
            and_(
                PatientRating.patient_id == p.c.patient_id,
                within(_utc_day(db, PatientRating.at)),
            ),
        ),
        "replies": select(*by, func.count()).join(
            PatientReply,
            and_(
                PatientReply.patient_id == p.c.patient_id,
                within(_utc_day(db, PatientReply.at)),
            ),
        ),
    }
    async with db.sessions() as session:
        for name, statement in statements.items():
            rows = await session.execute(statement.select_from(p).group_by(*by))
            for pid, point, *values in rows:
                _set(found[(int(pid), point)], name, [int(v or 0) for v in values])
        # Scores at the period's own time point; a later assessment replaces an earlier one.
        scored = await session.execute(
            select(*by, Assessment.instrument_code, Assessment.scores)
            .select_from(p)
            .join(
                Assessment,
                and_(
                    Assessment.patient_id == p.c.patient_id,
                    Assessment.time_point == p.c.time_point,
                ),
            )
            .order_by(Assessment.assessed_at, Assessment.id)
        )
        for pid, point, instrument, scores in scored:
            into = found[(int(pid), point)]
            into.scores = into.scores or {}
            for name, value in scores.items():
                into.scores[f"{instrument}.{name}"] = "" if value is None else value
    return found


def _set(into: Measured, name: str, values: list[int]) -> None:
    if name == "doses":
        into.days_dosed = values[0]
    elif name == "urine":
        into.urine_tests, into.urine_negative = values
    elif name == "lessons":
        into.lessons_sent, into.lessons_opened = values
    elif name == "ratings":
        into.ratings, into.rating_sum = values
    else:
        into.replies = values[0]


async def score_columns(db: Database, participants: Any, time_points: Sequence[str]) -> list[str]:
    """The assessment score columns ("instrument.score") of a study's participants at its
    time points, sorted, from the scores' keys alone: the dictionary needs no row."""
    where = (Assessment.patient_id.in_(participants), Assessment.time_point.in_(time_points))
    if db.is_sqlite:
        keys = func.json_each(Assessment.scores).table_valued("key")
        statement = (
            select(Assessment.instrument_code, keys.c.key)
            .select_from(Assessment)
            .join(keys, true())
        )
    else:
        statement = select(
            Assessment.instrument_code, func.json_object_keys(Assessment.scores)
        ).select_from(Assessment)
    async with db.sessions() as session:
        rows = await session.execute(statement.where(*where).distinct())
        return sorted({f"{instrument}.{key}" for instrument, key in rows})
