"""The provider-interaction questionnaire per clinic: aggregates a provider cannot trace back
to a client, and a pseudonymised CSV for researchers.

Clients rate the staff who read the reports, so the figures follow three rules:
- Cells are calendar months in the clinic's time zone, by the month a questionnaire ended,
  never a free window: two overlapping windows could be subtracted to reveal the one client
  between their ends. A month is reported only once it has ended (a month still filling
  would change by one client from one day to the next).
- A month with fewer than MIN_RESPONDENTS distinct respondents shows no figures (it says
  so), and the window's total counts only the months shown, so nothing hidden can be
  derived from it.
- Only completed questionnaires count: a partial one is a smaller, more telling cell.
The CSV (researchers and admins only) has pseudonyms and months, no run ids (coordinators
see those beside patient ids in the runs list), no times, no words.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import select

from services.feedback.models import SurveyAnswer, SurveyRun
from services.feedback.reports.exports import _csv, _pages, _pseudonymiser
from services.feedback.surveys.definitions import BUILT_IN, PROVIDER_INTERACTION, SCALE_MAX
from shared.crypto import IdentifierCipher
from shared.db import Database
from shared.errors import InvalidInput

MIN_RESPONDENTS = 5
MAX_MONTHS = 24
MONTH_PATTERN = r"^20\d\d-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN)
ENDED = ("completed", "timed_out", "cancelled")
Hidden = Literal["too_few_respondents", "month_not_ended"]
RULE = (
    f"Figures are shown per calendar month (clinic time), once the month has ended, and only "
    f"for months with at least {MIN_RESPONDENTS} respondents, so that no provider can tell "
    f"which client gave which answer; the total counts the months shown."
)
ITEMS = [q.key for q in BUILT_IN[PROVIDER_INTERACTION].questions]


class ItemFigures(msgspec.Struct, kw_only=True):
    key: str
    mean: float
    distribution: dict[str, int]  # "1".."5" -> answers, every value listed


class Cell(msgspec.Struct, kw_only=True):
    """One month (`2026-11`) or the window's total (`2026-09..2026-11`)."""

    period: str
    shown: bool
    hidden: Hidden | None  # why no figures; None when shown
    ended: int  # questionnaires that ended (completed, timed out, cancelled)
    respondents: int | None = None  # distinct clients who completed one
    completed: int | None = None
    response_rate: float | None = None  # completed / ended
    overall_mean: float | None = None  # over every item of every completed questionnaire
    items: list[ItemFigures] = []


class ProviderInteractionReport(msgspec.Struct, kw_only=True):
    clinic_id: int
    survey: str
    time_zone: str
    from_month: str
    to_month: str
    minimum_respondents: int
    rule: str
    months: list[Cell]
    total: Cell


@dataclass(frozen=True)
class Months:
    """The window's months, first to last, in a time zone."""

    first: date
    last: date
    zone: ZoneInfo

    def starts(self) -> list[date]:
        months, month = [], self.first
        while month <= self.last:
            months.append(month)
            month = _next(month)
        return months

    def start_of(self, month: date) -> datetime:
        return datetime(month.year, month.month, 1, tzinfo=self.zone)

    def bounds(self) -> tuple[datetime, datetime]:
        return self.start_of(self.first), self.start_of(_next(self.last))

    def month_of(self, moment: datetime) -> date:
        return _month_of(moment, self.zone)


def _month_of(moment: datetime, zone: ZoneInfo) -> date:
    local = moment.astimezone(zone)
    return date(local.year, local.month, 1)


def _next(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _label(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def _parse(value: str, name: str) -> date:
    if not _MONTH.fullmatch(value):
        raise InvalidInput(f"{name} must be a month, YYYY-MM (e.g. 2026-11)")
    return date(int(value[:4]), int(value[5:]), 1)


def window(time_zone: str, from_month: str | None, to_month: str | None, now: datetime) -> Months:
    """`from`..`to` inclusive; by default the last three months that have ended."""
    zone = ZoneInfo(time_zone)
    current = _month_of(now, zone)
    last = _parse(to_month, "to") if to_month else _back(current, 1)
    first = _parse(from_month, "from") if from_month else _back(last, 2)
    if first > last:
        raise InvalidInput("from: after to")
    if (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS:
        raise InvalidInput(f"to: at most {MAX_MONTHS} months from from")
    return Months(first, last, zone)


def _back(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


def _where(clinic_id: int, months: Months) -> list[Any]:
    since, until = months.bounds()
    return [
        SurveyRun.clinic_id == clinic_id,
        SurveyRun.survey_key == PROVIDER_INTERACTION,
        SurveyRun.state.in_(ENDED),
        SurveyRun.finished_at >= since,
        SurveyRun.finished_at < until,
    ]


@dataclass
class _Tally:
    ended: int = 0
    completed: int = 0
    patients: set[int] = field(default_factory=set)
    values: defaultdict[str, list[int]] = field(default_factory=lambda: defaultdict(list))


def _cell(period: str, tally: _Tally, hidden: Hidden | None) -> Cell:
    if hidden is None and len(tally.patients) < MIN_RESPONDENTS:
        hidden = "too_few_respondents"
    if hidden is not None:
        return Cell(period=period, shown=False, hidden=hidden, ended=tally.ended)
    items = []
    for key in ITEMS:
        values = tally.values[key]
        distribution = {str(v): values.count(v) for v in range(1, SCALE_MAX + 1)}
        mean = round(sum(values) / len(values), 2) if values else 0.0
        items.append(ItemFigures(key=key, mean=mean, distribution=distribution))
    every = [v for key in ITEMS for v in tally.values[key]]
    return Cell(
        period=period,
        shown=True,
        hidden=None,
        ended=tally.ended,
        respondents=len(tally.patients),
        completed=tally.completed,
        response_rate=round(tally.completed / tally.ended, 3) if tally.ended else None,
        overall_mean=round(sum(every) / len(every), 2) if every else None,
        items=items,
    )


async def report(
    db: Database, clinic_id: int, months: Months, now: datetime, time_zone: str
) -> ProviderInteractionReport:
    where = _where(clinic_id, months)
    async with db.sessions() as session:
        runs = (
            await session.execute(
                select(SurveyRun.id, SurveyRun.patient_id, SurveyRun.state, SurveyRun.finished_at)
                .where(*where)
            )
        ).all()  # fmt: skip
        answers = (
            await session.execute(
                select(SurveyAnswer.run_id, SurveyAnswer.question_key, SurveyAnswer.value)
                .join(SurveyRun, SurveyRun.id == SurveyAnswer.run_id)
                .where(*where, SurveyRun.state == "completed", SurveyAnswer.state == "answered")
            )
        ).all()  # fmt: skip
    by_run: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for run_id, key, value in answers:
        if value is not None:
            by_run[run_id].append((key, int(value)))
    tallies = {month: _Tally() for month in months.starts()}
    for run_id, patient_id, state, finished_at in runs:
        tally = tallies.get(months.month_of(finished_at)) if finished_at else None
        if tally is None:  # an ended run always has its end time; the query bounds it
            continue
        tally.ended += 1
        if state == "completed":
            tally.completed += 1
            tally.patients.add(patient_id)
            for key, value in by_run[run_id]:
                tally.values[key].append(value)
    current = months.month_of(now)
    cells = [
        _cell(_label(m), t, "month_not_ended" if m >= current else None) for m, t in tallies.items()
    ]
    total = _Tally()
    for cell, tally in zip(cells, tallies.values(), strict=True):
        if cell.shown:  # what is hidden stays hidden, in the total too
            _merge(total, tally)
    period = f"{_label(months.first)}..{_label(months.last)}"
    return ProviderInteractionReport(
        clinic_id=clinic_id,
        survey=PROVIDER_INTERACTION,
        time_zone=time_zone,
        from_month=_label(months.first),
        to_month=_label(months.last),
        minimum_respondents=MIN_RESPONDENTS,
        rule=RULE,
        months=cells,
        total=_cell(period, total, None if any(c.shown for c in cells) else "too_few_respondents"),
    )


def _merge(into: _Tally, tally: _Tally) -> None:
    into.ended += tally.ended
    into.completed += tally.completed
    into.patients |= tally.patients
    for key, values in tally.values.items():
        into.values[key].extend(values)


CSV_COLUMNS = ["patient", "clinic_id", "study_arm", "month", "run_state", "question_key", "value"]


def research_csv(
    db: Database,
    clinic_id: int,
    months: Months,
    now: datetime,
    cipher: IdentifierCipher | None,
) -> AsyncIterator[bytes]:
    """Every answer of the questionnaires that ended in the window's ended months."""
    name = _pseudonymiser(cipher)
    _, until = months.bounds()
    current = months.start_of(months.month_of(now))
    query = (
        select(SurveyAnswer, SurveyRun)
        .join(SurveyRun, SurveyRun.id == SurveyAnswer.run_id)
        .where(
            *_where(clinic_id, months),
            SurveyRun.finished_at < min(until, current),
            SurveyAnswer.state == "answered",
        )
    )

    async def rows() -> AsyncIterator[list[list[Any]]]:
        async for page in _pages(db, query, SurveyAnswer.id):
            out = []
            for a, run in page:
                month = _label(months.month_of(run.finished_at))
                out.append(
                    [
                        name(run.patient_id), run.clinic_id, run.study_arm, month, run.state,
                        a.question_key, a.value,
                    ]
                )  # fmt: skip
            yield out

    return _csv(CSV_COLUMNS, rows())
