"""Surveys for coordinators: definitions, sending a survey to a clinic's patients, runs.

Patients are reached through the sender read model (who is active and not opted out, as
the scheduler last said); a patient already in a survey is left alone and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.feedback.models import Outbox, Sender, SurveyAnswer, SurveyDefinition, SurveyRun
from services.feedback.schemas import (
    AnswerOut,
    SurveyRunOut,
    SurveyRunsIn,
    SurveyRunsStarted,
)
from services.feedback.surveys import runs
from services.feedback.surveys.definitions import ANONYMOUS, BUILT_IN, Survey, validate
from shared.access.tokens import Principal
from shared.bus import add_to_outbox
from shared.db import Database
from shared.errors import Conflict, NotFound

MAX_RUNS_LISTED = 500


async def list_definitions(db: Database) -> list[Survey]:
    async with db.sessions() as session:
        rows = (await session.execute(select(SurveyDefinition))).scalars().all()
    custom = [msgspec.convert(row.definition, Survey) for row in rows]
    return [*BUILT_IN.values(), *sorted(custom, key=lambda s: s.key)]


async def get_definition(db: Database, key: str) -> Survey:
    async with db.sessions() as session:
        survey = await runs.definition(session, key)
    if survey is None:
        raise NotFound(f"no survey {key!r}")
    return survey


async def create_definition(db: Database, principal: Principal, survey: Survey) -> Survey:
    validate(survey)
    if survey.key in BUILT_IN:
        raise Conflict(f"survey {survey.key!r} is built in; choose another key")
    try:
        async with db.transaction() as session:
            session.add(
                SurveyDefinition(
                    key=survey.key,
                    definition=msgspec.to_builtins(survey),
                    created_at=datetime.now(UTC),
                    created_by=principal.token_id,
                )
            )
    except IntegrityError:
        # Answers already given refer to its questions: a definition is never replaced.
        raise Conflict(f"survey {survey.key!r} exists; definitions never change") from None
    return survey


async def start_runs(
    db: Database, principal: Principal, clinic_id: int, key: str, data: SurveyRunsIn
) -> SurveyRunsStarted:
    survey = await get_definition(db, key)
    now = datetime.now(UTC)
    query = select(Sender).where(Sender.clinic_id == clinic_id)
    if data.patient_ids is not None:
        query = query.where(Sender.patient_id.in_(data.patient_ids))
    if data.study_arm is not None:
        query = query.where(Sender.study_arm == data.study_arm)
    started = busy = 0
    async with db.transaction() as session:
        senders = (await session.execute(query.order_by(Sender.patient_id))).scalars().all()
        reachable = [s for s in senders if s.state == "active" and not s.opted_out]
        reached = {s.patient_id for s in reachable}
        open_for = set(
            (
                await session.execute(
                    select(SurveyRun.patient_id).where(
                        SurveyRun.patient_id.in_(reached), SurveyRun.state == "open"
                    )
                )
            ).scalars()
        )
        for sender in reachable:
            if sender.patient_id in open_for:
                busy += 1
                continue
            _, ask = await runs.start(
                session, sender, survey, started_by=principal.token_id, now=now
            )
            add_to_outbox(session, Outbox, ask)
            started += 1
    asked = set(data.patient_ids or ())
    missing = sorted(asked - reached) if data.patient_ids is not None else []
    return SurveyRunsStarted(
        survey=key, started=started, already_in_a_survey=busy, not_reachable=missing
    )


async def list_runs(
    db: Database,
    clinic_id: int,
    key: str,
    *,
    state: str | None,
    patient_id: int | None,
    before_id: int | None,
    limit: int,
) -> list[SurveyRunOut]:
    query = (
        select(SurveyRun)
        .where(SurveyRun.clinic_id == clinic_id, SurveyRun.survey_key == key)
        .order_by(SurveyRun.id.desc())
        .limit(max(1, min(limit, MAX_RUNS_LISTED)))
    )
    if state is not None:
        query = query.where(SurveyRun.state == state)
    if patient_id is not None:
        query = query.where(SurveyRun.patient_id == patient_id)
    if before_id is not None:
        query = query.where(SurveyRun.id < before_id)
    async with db.sessions() as session:
        runs = (await session.execute(query)).scalars().all()
        answers: Sequence[SurveyAnswer] = []
        # An anonymous survey's runs say who was asked and who finished, never what they said.
        if key not in ANONYMOUS:
            answers = (
                (
                    await session.execute(
                        select(SurveyAnswer)
                        .where(SurveyAnswer.run_id.in_([r.id for r in runs]))
                        .order_by(SurveyAnswer.id)
                    )
                )
                .scalars()
                .all()
            )
    by_run: dict[int, list[AnswerOut]] = {}
    for a in answers:
        by_run.setdefault(a.run_id, []).append(
            AnswerOut(
                question_key=a.question_key, state=a.state, value=a.value, text=a.text, at=a.at
            )
        )
    return [
        SurveyRunOut(
            id=r.id,
            survey=r.survey_key,
            patient_id=r.patient_id,
            clinic_id=r.clinic_id,
            study_arm=r.study_arm,
            state=r.state,
            question_index=r.question_index,
            started_at=r.started_at,
            finished_at=r.finished_at,
            answers=by_run.get(r.id, []),
        )
        for r in runs
    ]
