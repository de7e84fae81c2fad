"""The study part of a coordinator's patient page (issue 21): the patient's questionnaires
(the follow-up plan with each time point's state, the assessments done with their scores,
and the names of the questionnaires and scores in every language) and the printed
handouts (whether the patient's arm gets its lessons on paper, the handouts given, and the
lessons of their track to print).

Part of `GET /patients/{id}/page` (patient_page.py) rather than routes of its own: a
round trip costs the console more than these few small queries (docs/benchmarks.md), and
they are read in one database session with the MI sessions and tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Exists, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler import assessment_plan, assessments, handouts
from services.scheduler.assessment_definition import decode_questionnaire
from services.scheduler.assessment_models import Assessment, AssessmentDue, AssessmentInstrument
from services.scheduler.models import Patient, TrackVersion
from services.scheduler.risk_models import EVERY_CLINIC
from services.scheduler.studies.models import StudyArm, StudyParticipant
from services.scheduler.tasks.models import Task
from shared.messages import CurriculumPublished


class QuestionnaireNames(msgspec.Struct, kw_only=True):
    titles: dict[str, str]  # by language
    scores: dict[str, dict[str, str]]  # score key -> its name by language


class AssessmentsPart(msgspec.Struct, kw_only=True):
    plan: list[assessment_plan.DueOut]  # by day
    done: list[assessments.AssessmentOut]  # newest first
    names: dict[str, QuestionnaireNames]  # code -> names, of those in the plan or done


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


class Present(msgspec.Struct, frozen=True, kw_only=True):
    """What the patient has at all, in one probe: most patients have no questionnaire,
    handout or task, and a read skipped is a query saved on every page."""

    planned: bool
    assessed: bool
    handed: bool
    on_paper: bool  # the arm gets its lessons on paper
    tasks: bool


def _exists(model: type[Any], patient_id: int) -> Exists:
    return exists(select(model.id).where(model.patient_id == patient_id))


async def present(session: AsyncSession, patient: Patient) -> Present:
    in_arm_without_lessons = exists(
        select(StudyParticipant.id)
        .join(StudyArm, StudyArm.id == StudyParticipant.arm_id)
        .where(StudyParticipant.patient_id == patient.id, ~StudyArm.lessons)
    )
    # Before studies, staff typed an arm and "control" meant no lessons (policy.py).
    legacy = and_(
        func.coalesce(Patient.study_arm, "") == "control",
        ~_exists(StudyParticipant, patient.id),
    )
    row = (
        await session.execute(
            select(
                _exists(AssessmentDue, patient.id).label("planned"),
                _exists(Assessment, patient.id).label("assessed"),
                _exists(handouts.HandoutGiven, patient.id).label("handed"),
                or_(in_arm_without_lessons, legacy).label("on_paper"),
                _exists(Task, patient.id).label("tasks"),
            ).where(Patient.id == patient.id)
        )
    ).one()
    return Present(
        planned=bool(row.planned),
        assessed=bool(row.assessed),
        handed=bool(row.handed),
        on_paper=bool(row.on_paper),
        tasks=bool(row.tasks),
    )


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


# A stored definition never changes (a new one is a new version, a new row): its names
# are decoded once per process, by row id.
_NAMES: dict[int, QuestionnaireNames] = {}


async def _names(
    session: AsyncSession, clinic_id: int, codes: set[str]
) -> dict[str, QuestionnaireNames]:
    """The names of these questionnaires as the clinic uses them (its own newest version
    of a code, else the shared one's)."""
    if not codes:
        return {}
    rows = (
        await session.execute(
            select(AssessmentInstrument.id, AssessmentInstrument.code)
            .where(
                AssessmentInstrument.owner.in_((EVERY_CLINIC, clinic_id)),
                AssessmentInstrument.code.in_(sorted(codes)),
            )
            .order_by(
                AssessmentInstrument.code,
                AssessmentInstrument.owner.desc(),
                AssessmentInstrument.version.desc(),
            )
        )
    ).all()
    used: dict[str, int] = {}
    for row_id, code in rows:
        used.setdefault(code, row_id)  # the first of a code is the one used
    missing = [row_id for row_id in used.values() if row_id not in _NAMES]
    if missing:
        found = await session.execute(
            select(AssessmentInstrument.id, AssessmentInstrument.definition).where(
                AssessmentInstrument.id.in_(missing)
            )
        )
        for row_id, definition in found.all():
            form = decode_questionnaire(definition)
            _NAMES[row_id] = QuestionnaireNames(
                titles=form.titles, scores={rule.key: rule.texts for rule in form.scores}
            )
    return {code: _NAMES[row_id] for code, row_id in used.items()}


async def study_part(
    session: AsyncSession, patient: Patient, now: datetime, has: Present
) -> StudyPart:
    """The patient's questionnaires and handouts, read in the caller's session (the
    patient checked as the person's already); only what `has` says there is."""
    plan = await assessment_plan.patient_rows(session, patient, now) if has.planned else []
    done = await assessments.history_of(session, patient.id) if has.assessed else []
    given = await handouts.given_to(session, patient.id) if has.handed else []
    lessons = await _lessons(session, patient.track) if has.on_paper else []
    codes = {row.instrument for row in plan} | {row.instrument for row in done}
    return StudyPart(
        assessments=AssessmentsPart(
            plan=plan, done=done, names=await _names(session, patient.clinic_id, codes)
        ),
        handouts=HandoutsPart(on_paper=has.on_paper, given=given, lessons=lessons),
    )
