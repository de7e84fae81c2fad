"""The study part of a coordinator's patient page (issue 21): the patient's questionnaires
(the follow-up plan with each time point's state, the assessments done with their scores,
and the names of the questionnaires and scores in every language) and the printed
handouts (whether the patient's arm gets its lessons on paper, the handouts given, and the
lessons of their track to print).

Part of `GET /patients/{id}/page` (patient_page.py) rather than routes of its own: a
round trip costs the console more than these few small queries (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio

import msgspec
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler import assessment_plan, assessments, handouts
from services.scheduler.assessment_definition import decode_questionnaire
from services.scheduler.assessment_models import AssessmentInstrument
from services.scheduler.models import Patient, TrackVersion
from services.scheduler.patients import Scheduler, load_patient
from services.scheduler.risk_models import EVERY_CLINIC
from services.scheduler.studies.models import StudyArm, StudyParticipant
from shared.access.tokens import Principal
from shared.messages import CurriculumPublished


class QuestionnaireNames(msgspec.Struct, kw_only=True):
    titles: dict[str, str]  # by language
    scores: dict[str, dict[str, str]]  # score key -> its name by language


class AssessmentsPart(msgspec.Struct, kw_only=True):
    plan: list[assessment_plan.DueOut]  # by day
    done: list[assessments.AssessmentOut]  # newest first
    names: dict[str, QuestionnaireNames]  # code -> names, of every one the clinic may use


class HandoutLesson(msgspec.Struct, kw_only=True):
    track: str
    version: int
    key: str
    position: int
    titles: dict[str, str]  # by language


class HandoutsPart(msgspec.Struct, kw_only=True):
    # The patient's arm gets lessons on paper, not pushed: randomised into an arm without
    # lessons, or (outside any study) labelled "control" as before studies existed.
    on_paper: bool
    given: list[handouts.HandoutOut]  # newest first
    lessons: list[HandoutLesson]  # the track's newest published lessons, when on paper


class StudyPart(msgspec.Struct, kw_only=True):
    assessments: AssessmentsPart
    handouts: HandoutsPart


async def _on_paper(session: AsyncSession, patient: Patient) -> bool:
    in_arm_without_lessons = exists(
        select(StudyParticipant.id)
        .join(StudyArm, StudyArm.id == StudyParticipant.arm_id)
        .where(StudyParticipant.patient_id == patient.id, ~StudyArm.lessons)
    )
    in_a_study = exists(
        select(StudyParticipant.id).where(StudyParticipant.patient_id == patient.id)
    )
    legacy = and_(func.coalesce(Patient.study_arm, "") == "control", ~in_a_study)
    query = select(Patient.id).where(Patient.id == patient.id, or_(in_arm_without_lessons, legacy))
    return (await session.execute(query)).first() is not None


async def _lessons(session: AsyncSession, track: str | None) -> list[HandoutLesson]:
    if track is None:
        return []
    row = (
        await session.execute(
            select(TrackVersion.event)
            .where(TrackVersion.track == track)
            .order_by(TrackVersion.version.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return []
    event = msgspec.json.decode(row.event, type=CurriculumPublished)
    return [
        HandoutLesson(
            track=event.track,
            version=event.version,
            key=lesson.key,
            position=lesson.position,
            titles={language: text.title for language, text in lesson.texts.items()},
        )
        for lesson in sorted(event.lessons, key=lambda lesson: lesson.position)
    ]


async def _names(session: AsyncSession, clinic_id: int) -> dict[str, QuestionnaireNames]:
    """Every questionnaire the clinic may use (its own newest version of a code, else the
    shared one's): what the page names and offers to administer."""
    rows = (
        await session.execute(
            select(AssessmentInstrument.code, AssessmentInstrument.definition)
            .where(AssessmentInstrument.owner.in_((EVERY_CLINIC, clinic_id)))
            .order_by(
                AssessmentInstrument.code,
                AssessmentInstrument.owner.desc(),
                AssessmentInstrument.version.desc(),
            )
        )
    ).all()
    names: dict[str, QuestionnaireNames] = {}
    for code, definition in rows:
        if code not in names:  # the first of a code is the one used
            form = decode_questionnaire(definition)
            names[code] = QuestionnaireNames(
                titles=form.titles, scores={rule.key: rule.texts for rule in form.scores}
            )
    return names


async def _paper_and_names(
    ctx: Scheduler, principal: Principal, patient_id: int
) -> tuple[bool, list[HandoutLesson], dict[str, QuestionnaireNames]]:
    async with ctx.db.sessions() as session:
        patient = await load_patient(session, principal, patient_id)
        on_paper = await _on_paper(session, patient)
        lessons = await _lessons(session, patient.track) if on_paper else []
        return on_paper, lessons, await _names(session, patient.clinic_id)


async def study_part(ctx: Scheduler, principal: Principal, patient_id: int) -> StudyPart:
    """The patient's questionnaires and handouts (a 404 like the record). The reads are
    the routes' own (assessment-plan, assessments, handouts), made at once."""
    plan, done, given, (on_paper, lessons, names) = await asyncio.gather(
        assessment_plan.patient_schedule(ctx, principal, patient_id),
        assessments.history(ctx, principal, patient_id),
        handouts.handouts_of(ctx, principal, patient_id),
        _paper_and_names(ctx, principal, patient_id),
    )
    return StudyPart(
        assessments=AssessmentsPart(plan=plan, done=done, names=names),
        handouts=HandoutsPart(on_paper=on_paper, given=given, lessons=lessons),
    )
