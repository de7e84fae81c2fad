"""Aggregates for coordinators and researchers: counts and averages, never words or ids.

Ratings group by lesson, by module or by study arm (the arm a reply was received under);
survey answers by question, optionally within one arm; needs by category and status.
Everything stays within the caller's clinics (`needs.clinic_scope`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select

from services.feedback import surveys
from services.feedback.models import InboundMessage, Need, SurveyAnswer, SurveyRun
from services.feedback.needs import clinic_scope, time_window
from services.feedback.schemas import NeedCount, QuestionReport, RatingGroup, SurveyReport
from services.feedback.surveys.definitions import ANONYMOUS
from shared.access.tokens import Principal
from shared.db import Database
from shared.errors import InvalidInput, NotFound

GroupBy = Literal["lesson", "module", "arm"]


async def ratings(
    db: Database,
    principal: Principal,
    *,
    by: GroupBy,
    clinic_id: int | None,
    since: datetime | None,
) -> list[RatingGroup]:
    scope = clinic_scope(principal, InboundMessage.clinic_id, clinic_id)
    if scope is None:
        return []
    group: Any = {
        "lesson": InboundMessage.lesson_key,
        "module": InboundMessage.module,
        "arm": InboundMessage.study_arm,
    }[by]
    # Lessons and modules are named within a track; arms span tracks.
    keys: list[Any] = [group] if by == "arm" else [InboundMessage.track, group]
    query = time_window(
        select(*keys, InboundMessage.rating, func.count())
        .where(scope, InboundMessage.rating.is_not(None))
        .group_by(*keys, InboundMessage.rating),
        InboundMessage.received_at,
        since,
        None,
    )
    async with db.sessions() as session:
        rows = (await session.execute(query)).all()
    counts: dict[tuple[str | None, str | None], dict[str, int]] = defaultdict(dict)
    for *names, rating, n in rows:
        track, name = (None, names[0]) if by == "arm" else (names[0], names[1])
        counts[(track, name)][str(rating)] = int(n)
    result = []
    for (track, name), distribution in counts.items():
        total = sum(distribution.values())
        mean = sum(int(value) * n for value, n in distribution.items()) / total
        result.append(
            RatingGroup(
                track=track,
                group=name,
                ratings=total,
                average=round(mean, 2),
                distribution=dict(sorted(distribution.items())),
            )
        )
    return sorted(result, key=lambda r: (r.track or "", r.group or ""))


async def survey_report(
    db: Database,
    principal: Principal,
    key: str,
    *,
    clinic_id: int | None,
    study_arm: str | None,
) -> SurveyReport:
    if key in ANONYMOUS:  # per clinic and month only, above a minimum of respondents
        raise InvalidInput(
            f"survey: {key} is anonymous; read GET /api/v1/clinics/{{id}}/reports/"
            "provider-interaction"
        )
    async with db.sessions() as session:
        survey = await surveys.definition(session, key)
        if survey is None:
            raise NotFound(f"no survey {key!r}")
        scope = clinic_scope(principal, SurveyRun.clinic_id, clinic_id)
        empty = SurveyReport(survey=key, study_arm=study_arm, runs={}, questions=[])
        if scope is None:
            return empty
        runs_where = [scope, SurveyRun.survey_key == key]
        if study_arm is not None:
            runs_where.append(SurveyRun.study_arm == study_arm)
        states = await session.execute(
            select(SurveyRun.state, func.count()).where(*runs_where).group_by(SurveyRun.state)
        )
        answers = await session.execute(
            select(SurveyAnswer.question_key, SurveyAnswer.state, SurveyAnswer.value, func.count())
            .join(SurveyRun, SurveyRun.id == SurveyAnswer.run_id)
            .where(*runs_where)
            .group_by(SurveyAnswer.question_key, SurveyAnswer.state, SurveyAnswer.value)
        )
        runs = {state: int(n) for state, n in states}
        answer_rows = answers.all()
    by_question: dict[str, QuestionReport] = {
        q.key: QuestionReport(key=q.key, type=q.type, answered=0, timed_out=0, distribution={})
        for q in survey.questions
    }
    for question_key, state, value, n in answer_rows:
        report = by_question.get(question_key)
        if report is None:
            continue
        if state == "timed_out":
            report.timed_out += int(n)
            continue
        report.answered += int(n)
        if value is not None:
            report.distribution[str(value)] = report.distribution.get(str(value), 0) + int(n)
    for report in by_question.values():
        report.distribution = dict(sorted(report.distribution.items(), key=lambda i: int(i[0])))
    return SurveyReport(
        survey=key, study_arm=study_arm, runs=runs, questions=list(by_question.values())
    )


async def need_counts(
    db: Database, principal: Principal, *, clinic_id: int | None, since: datetime | None
) -> list[NeedCount]:
    scope = clinic_scope(principal, Need.clinic_id, clinic_id)
    if scope is None:
        return []
    query = time_window(
        select(Need.category, Need.status, Need.urgent, func.count())
        .where(scope)
        .group_by(Need.category, Need.status, Need.urgent)
        .order_by(Need.category, Need.status, Need.urgent),
        Need.created_at,
        since,
        None,
    )
    async with db.sessions() as session:
        rows = (await session.execute(query)).all()
    return [NeedCount(category=c, status=s, urgent=u, count=int(n)) for c, s, u, n in rows]
