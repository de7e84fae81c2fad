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
services/scheduler/mi/), retention. Other replies live in the feedback service: its
`replies.csv` carries the same keyed pseudonym, so a researcher joins the two files on
`participant`.

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

from sqlalchemy import func, select

from services.scheduler.assessment_models import Assessment
from services.scheduler.mi.models import MiSession
from services.scheduler.mi.rules import progress
from services.scheduler.mi.targets import windows
from services.scheduler.models import Dose, LessonProgress, Patient, UrineTest
from services.scheduler.patients import Scheduler
from services.scheduler.ratings import PatientRating
from services.scheduler.studies.definition import StudyDefinition, decode_study
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
    """Per patient: dose days, urine tests (day, result), lessons (day, state), assessments."""
    found: dict[str, dict[int, list[Any]]] = defaultdict(lambda: defaultdict(list))
    if not ids:
        return found
    async with ctx.db.sessions() as session:
        for pid, day in await session.execute(
            select(Dose.patient_id, Dose.local_date).where(Dose.patient_id.in_(ids)).distinct()
        ):
            found["doses"][pid].append(day)
        for pid, day, result in await session.execute(
            select(UrineTest.patient_id, UrineTest.taken_on, UrineTest.result).where(
                UrineTest.patient_id.in_(ids)
            )
        ):
            found["urine"][pid].append((day, result))
        for pid, at, state in await session.execute(
            select(
                LessonProgress.patient_id, func.date(LessonProgress.at), LessonProgress.state
            ).where(LessonProgress.patient_id.in_(ids), LessonProgress.state != "skipped")
        ):
            found["lessons"][pid].append((date.fromisoformat(str(at)[:10]), state))
        for pid, at, rating in await session.execute(
            select(PatientRating.patient_id, PatientRating.at, PatientRating.rating).where(
                PatientRating.patient_id.in_(ids)
            )
        ):
            found["ratings"][pid].append((at.date(), rating))
        for pid, day in await session.execute(
            select(MiSession.patient_id, MiSession.held_on).where(
                MiSession.patient_id.in_(ids), MiSession.voided_at.is_(None)
            )
        ):
            found["mi"][pid].append(day)
        for row in await session.execute(
            select(Assessment)
            .where(Assessment.patient_id.in_(ids))
            .order_by(Assessment.assessed_at)
        ):
            assessment = row[0]
            found["assessments"][assessment.patient_id].append(assessment)
    return found


def _count(days: list[date], first: date, last: date) -> int:
    return sum(1 for day in days if first <= day <= last)


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
    data = await _daily(ctx, [p.patient_id for p in people])
    async with ctx.db.sessions() as session:  # MI targets: this study's arms' only
        mi_windows = await windows(session, Patient.id.in_([p.patient_id for p in people]))
    strata = [f.key for f in definition.strata]
    rows: list[dict[str, Any]] = []
    scores: dict[str, None] = {}
    for person in people:
        participant = (
            str(person.patient_id)
            if identified
            else cipher.pseudonym(str(person.patient_id), PSEUDONYM_PURPOSE)  # type: ignore[union-attr]
        )
        for point, months, first, last in _points(definition, person.start, today):
            followed_to = min(last, person.lost_on - timedelta(days=1)) if person.lost_on else last
            expected = max(0, (followed_to - first).days + 1)
            dosed = _count(data["doses"][person.patient_id], first, followed_to)
            tests = [r for d, r in data["urine"][person.patient_id] if first <= d <= last]
            negatives = tests.count("negative")
            lessons = [s for d, s in data["lessons"][person.patient_id] if first <= d <= last]
            ratings = [r for d, r in data["ratings"][person.patient_id] if first <= d <= last]
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
                "urine_tests": len(tests),
                "urine_negative": negatives,
                "urine_negative_share": round(negatives / len(tests), 4) if tests else "",
                "lessons_sent": len(lessons),
                "lessons_opened": lessons.count("opened"),
                "ratings": len(ratings),
                "rating_mean": round(sum(ratings) / len(ratings), 3) if ratings else "",
                "mi_sessions": sum(1 for d in mi_held if first <= d),
                "mi_target_met": int(progress(window, mi_held, last).status == "met")
                if window is not None and window.study_id == study_id
                else "",
                "retained": 0 if lost else 1,
                "lost_reason": person.lost_reason or "" if lost else "",
            }
            for assessment in data["assessments"][person.patient_id]:
                if assessment.time_point == point:
                    for name, value in assessment.scores.items():
                        column = f"{assessment.instrument_code}.{name}"
                        scores[column] = None
                        row[column] = "" if value is None else value
            rows.append(row)
    dictionary = [
        *FIXED[:4],
        *(Variable(f"stratum_{k}", f"分层：{k}", f"Stratum: {k}", "text") for k in strata),
        *FIXED[4:],
        *(
            Variable(c, f"评估得分：{c}", f"Assessment score: {c}", "number")
            for c in sorted(scores)
        ),
    ]
    return [v.name for v in dictionary], rows, dictionary


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
