"""Assessments: questionnaires loaded as data (assessment_definition.py), answers recorded
by staff or by the patient through a signed link, scored when recorded, and each patient's
history.

Questionnaires are stored as risk instruments are (instruments.py): per clinic or for every
clinic, a clinic's own version first. Recording checks every answer against its question's
scale (422 naming the question), scores the answers with the newest version, and keeps the
answers, the scores and the version together. An assessment naming a time point of the
patient's follow-up plan (assessment_plan.py) marks it done; a time point already done is
refused. A request sent twice (same patient, questionnaire and moment) is recorded once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.assessment_definition import (
    Questionnaire,
    decode_questionnaire,
    validate_questionnaire,
)
from services.scheduler.assessment_models import (
    Assessment,
    AssessmentDue,
    AssessmentInstrument,
)
from services.scheduler.instruments import (
    list_visible,
    load_sent,
    newest_definition,
    owner_of,
    store_definition,
)
from services.scheduler.models import Patient
from services.scheduler.patients import Scheduler, load_patient
from services.scheduler.risk import checked_assessor
from services.scheduler.risk_definition import CODE
from services.scheduler.schemas import Aware
from shared.access.tokens import Principal
from shared.db import Database
from shared.errors import Conflict, InvalidInput, NotFound

TIME_POINT = r"^[a-z0-9][a-z0-9-]{0,39}$"  # baseline, month-2, ...
SELF = "patient"  # assessed_by of a self-assessment


class QuestionnaireOut(msgspec.Struct, kw_only=True):
    clinic_id: int | None  # None: every clinic may use it
    code: str
    version: int
    titles: dict[str, str]
    questions: int
    scores: list[str]
    outcome: str | None = None  # on loading: "loaded" or "unchanged"


class AssessmentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    instrument: Annotated[str, msgspec.Meta(pattern=f"^{CODE.pattern}$")]
    # question key -> answer value; null or left out: not answered (the missing rules apply)
    answers: dict[str, Annotated[str, msgspec.Meta(max_length=40)] | None]
    assessed_by: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    assessed_at: Aware
    time_point: Annotated[str, msgspec.Meta(pattern=TIME_POINT)] | None = None


class AssessmentOut(msgspec.Struct, kw_only=True):
    id: int
    patient_id: int
    instrument: str
    version: int
    time_point: str | None
    mode: str  # staff, self
    answers: dict[str, str]
    scores: dict[str, float | None]  # null: too many answers missing for that score
    assessed_by: str
    assessed_at: datetime
    already_recorded: bool = False


def _questionnaire_out(row: AssessmentInstrument, outcome: str | None = None) -> QuestionnaireOut:
    form = decode_questionnaire(row.definition)
    return QuestionnaireOut(
        clinic_id=owner_of(row),
        code=row.code,
        version=row.version,
        titles=form.titles,
        questions=len(form.questions),
        scores=[rule.key for rule in form.scores],
        outcome=outcome,
    )


async def store_questionnaire(
    db: Database, form: Questionnaire, clinic_id: int | None, loaded_by: str
) -> QuestionnaireOut:
    """Keep a validated questionnaire (instruments.store_definition)."""
    definition = msgspec.to_builtins(form)
    row, outcome = await store_definition(
        db, AssessmentInstrument, (form.code, form.version), definition, clinic_id, loaded_by
    )
    return _questionnaire_out(row, outcome)


async def load_questionnaire(
    ctx: Scheduler, principal: Principal, clinic_id: int | None, data: Any
) -> QuestionnaireOut:
    return await load_sent(
        ctx.db,
        principal,
        clinic_id,
        data,
        validate_questionnaire,
        store_questionnaire,
        "questionnaire",
    )


async def list_questionnaires(
    ctx: Scheduler, principal: Principal, clinic_id: int | None
) -> list[QuestionnaireOut]:
    return await list_visible(
        ctx.db, AssessmentInstrument, principal, clinic_id, _questionnaire_out
    )


async def questionnaire_for(session: AsyncSession, clinic_id: int, code: str) -> Questionnaire:
    """The clinic's own newest version of `code`, else the shared one's."""
    definition = await newest_definition(session, AssessmentInstrument, clinic_id, code)
    return decode_questionnaire(definition)


async def questionnaire(
    ctx: Scheduler, principal: Principal, clinic_id: int, code: str
) -> Questionnaire:
    """The questionnaire a clinic uses under `code`, whole (its questions, scales and
    scores in every language): what a staff form asks. Another clinic or an unknown code
    is a 404."""
    if not principal.can_access_clinic(clinic_id) or not CODE.fullmatch(code):
        raise NotFound(f"no questionnaire {code!r} for clinic {clinic_id}")
    async with ctx.db.sessions() as session:
        try:
            return await questionnaire_for(session, clinic_id, code)
        except InvalidInput:  # not loaded for this clinic
            raise NotFound(f"no questionnaire {code!r} for clinic {clinic_id}") from None


def _out(row: Assessment, already: bool = False) -> AssessmentOut:
    return AssessmentOut(
        id=row.id,
        patient_id=row.patient_id,
        instrument=row.instrument_code,
        version=row.instrument_version,
        time_point=row.time_point,
        mode=row.mode,
        answers=row.answers,
        scores=row.scores,
        assessed_by=row.assessed_by,
        assessed_at=row.assessed_at,
        already_recorded=already,
    )


async def save(
    session: AsyncSession,
    patient: Patient,
    form: Questionnaire,
    answers: dict[str, str],
    due: AssessmentDue | None,
    *,
    by: tuple[str, str],
    at: datetime,
    now: datetime,
) -> Assessment:
    """Score checked answers and keep them, marking the time point done (`by`: who
    assessed and the token that recorded it)."""
    if due is not None and due.assessment_id is not None:
        raise Conflict(f"time_point: {due.time_point!r} of {due.instrument_code!r} is done")
    assessed_by, recorded_by = by
    row = Assessment(
        patient_id=patient.id,
        clinic_id=patient.clinic_id,
        instrument_code=form.code,
        instrument_version=form.version,
        time_point=due.time_point if due is not None else None,
        answers=answers,
        scores=form.score(answers),
        mode="self" if assessed_by == SELF else "staff",
        assessed_by=assessed_by,
        assessed_at=at,
        recorded_by=recorded_by,
        recorded_at=now,
    )
    session.add(row)
    await session.flush()
    if due is not None:
        due.assessment_id = row.id
    return row


async def record_assessment(
    ctx: Scheduler, principal: Principal, patient_id: int, data: AssessmentIn
) -> AssessmentOut:
    now = ctx.clock()
    assessor = checked_assessor(data.assessed_by, data.assessed_at, now)
    async with ctx.db.transaction() as session:
        patient = await load_patient(session, principal, patient_id, lock=True)
        form = await questionnaire_for(session, patient.clinic_id, data.instrument)
        answers = form.check(data.answers)
        existing = (
            await session.execute(
                select(Assessment).where(
                    Assessment.patient_id == patient.id,
                    Assessment.instrument_code == form.code,
                    Assessment.assessed_at == data.assessed_at,
                )
            )
        ).scalar_one_or_none()
        if existing is not None:  # the same request again (a retry)
            if existing.answers != answers or existing.time_point != data.time_point:
                raise Conflict("an assessment with this questionnaire at this time exists")
            return _out(existing, already=True)
        due = None
        if data.time_point is not None:
            due = (
                await session.execute(
                    select(AssessmentDue).where(
                        AssessmentDue.patient_id == patient.id,
                        AssessmentDue.instrument_code == form.code,
                        AssessmentDue.time_point == data.time_point,
                    )
                )
            ).scalar_one_or_none()
            if due is None:
                raise InvalidInput(
                    f"time_point: {data.time_point!r} is not in the patient's plan "
                    f"for {form.code!r}"
                )
        row = await save(
            session,
            patient,
            form,
            answers,
            due,
            by=(assessor, principal.token_id),
            at=data.assessed_at,
            now=now,
        )
        return _out(row)


async def history(ctx: Scheduler, principal: Principal, patient_id: int) -> list[AssessmentOut]:
    """Every assessment of the patient, newest first."""
    async with ctx.db.sessions() as session:
        patient = await load_patient(session, principal, patient_id)
        return await history_of(session, patient.id)


async def history_of(session: AsyncSession, patient_id: int) -> list[AssessmentOut]:
    """`history` in a session the caller opened (the patient page reads it with others)."""
    rows = (
        await session.execute(
            select(Assessment)
            .where(Assessment.patient_id == patient_id)
            .order_by(Assessment.assessed_at.desc(), Assessment.id.desc())
        )
    ).scalars()
    return [_out(row) for row in rows]
