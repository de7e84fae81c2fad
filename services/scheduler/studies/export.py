"""A study's analysis file (issue 21 part 3): one row per randomised participant and time
point, in long format, with a data dictionary beside it and the CONSORT flow counts.

Periods: a time point `months` after the participant's baseline (or randomisation, when no
baseline date was kept) closes the period that began at the previous time point; baseline
looks back 30 days (adherence before the intervention). Only time points already reached
have a row, so a running study exports what has happened so far.

What the scheduler knows goes in: doses (days dosed / days in the period up to a loss to
follow-up), urine tests, lessons sent and opened, lesson ratings (the scheduler's read model
of `RatingGiven`), assessments at that time point (each score and subscale as its own
column), MI sessions held (and whether the arm's MI target was met by the period's end:
services/scheduler/mi/), retention, and replies other than ratings (the scheduler's read model of
`ReplyReceived`: their kind and day, never the words; feedback's `replies.csv` has the rest,
under the same keyed pseudonym). Each measure is one grouped statement over all the
participants' periods (export_measures.py); the dictionary needs no row (`dictionary`).

Identified for admins (the patient id), pseudonymised for researchers (the installation's
keyed pseudonym, the feedback exports' purpose, so the files join): never a name or phone."""

from __future__ import annotations

import calendar
import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from services.scheduler.mi.models import MiSession
from services.scheduler.mi.rules import progress
from services.scheduler.mi.targets import windows
from services.scheduler.models import Patient
from services.scheduler.patients import Scheduler
from services.scheduler.studies.definition import Factor, StudyDefinition, decode_study
from services.scheduler.studies.export_measures import Measured, Period, measure, score_columns
from services.scheduler.studies.models import StudyArm, StudyParticipant
from services.scheduler.studies.service import load_study
from shared.access.tokens import Principal
from shared.errors import Unavailable

PSEUDONYM_PURPOSE = "research-export"  # the feedback exports' purpose: the files join
BASELINE_LOOKBACK = 30  # days of adherence before the baseline


@dataclass(frozen=True)
class Variable:
    name: str
    zh: str
    en: str
    type: str
    unit: str = ""
    values: str = ""


FIXED = (
    Variable("study", "研究", "Study key", "text"),
    Variable(
        "participant", "参与者编号", "Participant: patient id (admins) or keyed pseudonym", "text"
    ),
    Variable("clinic_id", "门诊编号", "Clinic at enrolment", "integer"),
    Variable("arm", "组别", "Allocated arm", "text"),
    Variable("time_point", "时间点", "Time point", "text"),
    Variable("months", "月数", "Months after baseline", "integer", "months"),
    Variable("period_start", "时段开始", "First day of the period", "date"),
    Variable("period_end", "时段结束", "Last day of the period", "date"),
    Variable("days_expected", "应到天数", "Days in the period while followed", "integer", "days"),
    Variable("days_dosed", "服药天数", "Days with an observed dose", "integer", "days"),
    Variable("adherence", "服药依从性", "days_dosed / days_expected", "number", "share", "0-1"),
    Variable("urine_tests", "尿检次数", "Urine tests in the period", "integer"),
    Variable("urine_negative", "尿检阴性次数", "Negative urine tests", "integer"),
    Variable(
        "urine_negative_share",
        "尿检阴性比例",
        "urine_negative / urine_tests",
        "number",
        "share",
        "0-1",
    ),
    Variable("lessons_sent", "发送课程数", "Lessons sent in the period", "integer"),
    Variable("lessons_opened", "打开课程数", "Lessons opened in the period", "integer"),
    Variable("ratings", "课程评分次数", "Lesson ratings given (1-5) in the period", "integer"),
    Variable("rating_mean", "平均评分", "Mean of those ratings", "number", "", "1-5"),
    Variable(
        "replies",
        "回复次数",
        "Replies other than ratings in the period (needs, HELP, record requests, survey "
        "answers, other; not STOP)",
        "integer",
    ),
    Variable("mi_sessions", "动机访谈次数", "MI sessions held in the period", "integer"),
    Variable(
        "mi_target_met",
        "动机访谈达标",
        "The arm's MI session target met by the period's end (empty: the arm sets none)",
        "integer",
        "",
        "0, 1",
    ),
    Variable("retained", "仍在随访", "Still followed at the period's end", "integer", "", "0, 1"),
    Variable(
        "lost_reason",
        "失访原因",
        "Why followed no longer (empty: still followed)",
        "text",
        "",
        "compulsory_detoxification, moved, died, withdrew, other",
    ),
)


@dataclass(frozen=True)
class _Person:
    patient_id: int
    clinic_id: int
    arm: str
    strata: dict[str, str]
    start: date
    lost_on: date | None
    lost_reason: str | None


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day (31 Jan + 1 month: 28/29 Feb)."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _points(
    definition: StudyDefinition, start: date, today: date
) -> list[tuple[str, int, date, date]]:
    """(time point, months, first day, last day) of each period already over: baseline is
    the 30 days before it; each later time point closes the period since the one before."""
    out = []
    previous = start
    for point in definition.follow_up:
        if point.months == 0:
            before = start - timedelta(days=BASELINE_LOOKBACK)
            out.append((point.key, 0, before, start - timedelta(days=1)))
            continue
        end = add_months(start, point.months)
        if end > today:
            break
        out.append((point.key, point.months, previous, end - timedelta(days=1)))
        previous = end
    return out


def _periods(definition: StudyDefinition, person: _Person, today: date) -> list[Period]:
    """The participant's periods, each with its last day followed (before a loss)."""
    return [
        Period(
            person.patient_id,
            point,
            first,
            last,
            min(last, person.lost_on - timedelta(days=1)) if person.lost_on else last,
        )
        for point, _months, first, last in _points(definition, person.start, today)
    ]


def scoped(query: Any, principal: Principal) -> Any:
    """Participants of the clinics the caller may see (an admin: all)."""
    if principal.all_clinics:
        return query
    return query.where(StudyParticipant.clinic_id.in_(principal.clinic_ids))


async def _people(ctx: Scheduler, principal: Principal, study_id: int) -> list[_Person]:
    query = (
        select(StudyParticipant, StudyArm.code)
        .join(StudyArm, StudyArm.id == StudyParticipant.arm_id)
        .where(StudyParticipant.study_id == study_id, StudyParticipant.randomised_at.is_not(None))
        .order_by(StudyParticipant.patient_id)
    )
    query = scoped(query, principal)
    async with ctx.db.sessions() as session:
        rows = (await session.execute(query)).all()
    return [
        _Person(
            patient_id=p.patient_id,
            clinic_id=p.clinic_id,
            arm=arm,
            strata=dict(p.strata or {}),
            start=p.baseline_on or p.randomised_at.date(),
            lost_on=p.lost_on,
            lost_reason=p.lost_reason,
        )
        for p, arm in rows
    ]


async def _daily(ctx: Scheduler, ids: list[int]) -> dict[str, dict[int, list[Any]]]:
    """Per patient: the days MI sessions were held."""
    found: dict[str, dict[int, list[Any]]] = defaultdict(lambda: defaultdict(list))
    if not ids:
        return found
    async with ctx.db.sessions() as session:
        for pid, day in await session.execute(
            select(MiSession.patient_id, MiSession.held_on).where(
                MiSession.patient_id.in_(ids), MiSession.voided_at.is_(None)
            )
        ):
            found["mi"][pid].append(day)
    return found


def _participants(study_id: int, principal: Principal) -> Any:
    """The study's randomised participants the caller may see, as a subquery of ids."""
    query = select(StudyParticipant.patient_id).where(
        StudyParticipant.study_id == study_id, StudyParticipant.randomised_at.is_not(None)
    )
    return scoped(query, principal)


def _stratum(factor: Factor) -> Variable:
    """A stratum's column: its declared values (an age band's are years), or a clinic id."""
    return Variable(
        f"stratum_{factor.key}",
        f"分层：{factor.key}",
        f"Stratum: {factor.key}",
        "text",
        "years" if factor.age_bands else "",
        ", ".join(factor.values or []),  # none for the clinic: the patient's clinic id
    )


def _variables(definition: StudyDefinition, scores: list[str]) -> list[Variable]:
    """Every column in order: the fixed ones with the strata after the arm, then each
    assessment score."""
    return [
        *FIXED[:4],
        *(_stratum(factor) for factor in definition.strata),
        *FIXED[4:],
        *(Variable(c, f"评估得分：{c}", f"Assessment score: {c}", "number") for c in scores),
    ]


async def dictionary(ctx: Scheduler, principal: Principal, study_id: int) -> list[Variable]:
    """The data dictionary of the caller's export of a study, without computing a row."""
    async with ctx.db.sessions() as session:
        study = await load_study(session, study_id)
    definition = decode_study(study.definition)
    return await _dictionary(ctx, principal, study_id, definition)


async def _dictionary(
    ctx: Scheduler, principal: Principal, study_id: int, definition: StudyDefinition
) -> list[Variable]:
    points = [point.key for point in definition.follow_up]
    scores = await score_columns(ctx.db, _participants(study_id, principal), points)
    return _variables(definition, scores)


async def export_rows(
    ctx: Scheduler,
    principal: Principal,
    study_id: int,
    *,
    pseudonymise: bool = False,
    today: date | None = None,
) -> tuple[list[str], list[dict[str, Any]], list[Variable]]:
    """The header, the rows and the data dictionary of a study's analysis file: identified
    for an admin (unless asked to pseudonymise), pseudonymised for anyone else
    (researchers); of the caller's clinics."""
    identified = principal.all_clinics and not pseudonymise
    async with ctx.db.sessions() as session:
        study = await load_study(session, study_id)
    definition = decode_study(study.definition)
    today = today or date.today()
    if not identified and ctx.cipher is None:
        raise Unavailable("IDENTIFIER_KEYS is not set: pseudonyms cannot be made")
    cipher = ctx.cipher
    people = await _people(ctx, principal, study_id)
    variables = await _dictionary(ctx, principal, study_id, definition)
    measured = await measure(ctx.db, [x for p in people for x in _periods(definition, p, today)])
    data = await _daily(ctx, [p.patient_id for p in people])
    async with ctx.db.sessions() as session:  # MI targets: this study's arms' only
        mi_windows = await windows(session, Patient.id.in_([p.patient_id for p in people]))
    strata = [f.key for f in definition.strata]
    rows: list[dict[str, Any]] = []
    for person in people:
        participant = (
            str(person.patient_id)
            if identified
            else cipher.pseudonym(str(person.patient_id), PSEUDONYM_PURPOSE)  # type: ignore[union-attr]
        )
        for point, months, first, last in _points(definition, person.start, today):
            followed_to = min(last, person.lost_on - timedelta(days=1)) if person.lost_on else last
            expected = max(0, (followed_to - first).days + 1)
            got = measured.get((person.patient_id, point)) or Measured()
            dosed, tests, negatives = got.days_dosed, got.urine_tests, got.urine_negative
            lost = person.lost_on is not None and person.lost_on <= last
            mi_held = [d for d in data["mi"][person.patient_id] if d <= last]
            window = mi_windows.get(person.patient_id)
            row: dict[str, Any] = {
                "study": definition.key,
                "participant": participant,
                "clinic_id": person.clinic_id,
                "arm": person.arm,
                **{f"stratum_{key}": person.strata.get(key, "") for key in strata},
                "time_point": point,
                "months": months,
                "period_start": first.isoformat(),
                "period_end": last.isoformat(),
                "days_expected": expected,
                "days_dosed": dosed,
                "adherence": round(dosed / expected, 4) if expected else "",
                "urine_tests": tests,
                "urine_negative": negatives,
                "urine_negative_share": round(negatives / tests, 4) if tests else "",
                "lessons_sent": got.lessons_sent,
                "lessons_opened": got.lessons_opened,
                "ratings": got.ratings,
                "rating_mean": round(got.rating_sum / got.ratings, 3) if got.ratings else "",
                "replies": got.replies,
                "mi_sessions": sum(1 for d in mi_held if first <= d),
                "mi_target_met": int(progress(window, mi_held, last).status == "met")
                if window is not None and window.study_id == study_id
                else "",
                "retained": 0 if lost else 1,
                "lost_reason": person.lost_reason or "" if lost else "",
            }
            row.update(got.scores or {})  # each score at this time point
            rows.append(row)
    return [v.name for v in variables], rows, variables


def to_csv(header: list[str], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def dictionary_csv(dictionary: list[Variable]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["variable", "label_zh_CN", "label_en", "type", "unit", "allowed_values"])
    for v in dictionary:
        writer.writerow([v.name, v.zh, v.en, v.type, v.unit, v.values])
    return out.getvalue()
