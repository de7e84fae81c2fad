"""What a study arm lets the planner send: over HTTP, the routine-care arm of the Yuxi study
(nothing before randomisation, nothing after; survey questions suppressed with the reason);
through the service functions on a fixed clock, an arm that lists its tracks gets lessons of
those tracks only, and an arm without dose reminders no missed-dose support either."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from services.scheduler import doses, planner
from services.scheduler.models import Occurrence
from services.scheduler.readmodel import ask_survey_question, store_curriculum
from services.scheduler.schemas import Consent
from services.scheduler.settings import SchedulerSettings
from services.scheduler.studies import participants, randomise, service
from services.scheduler.studies.definition import validate_study
from services.scheduler.studies.schemas import ArmChangeIn, ParticipantIn
from shared.db import Database
from shared.messages import (
    Cadence,
    CurriculumPublished,
    LessonText,
    PublishedLesson,
    SurveyRequested,
)
from tests.integration.schedutil import ADMIN, clinic, context, enrol
from tests.integration.test_scheduler_studies import World
from tests.integration.test_scheduler_studies import world as world  # the fixture

pytestmark = pytest.mark.usefixtures("secrets_env")
NOW = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # a Tuesday, 08:00 in Shanghai
ARMS = [
    {
        "code": "core-only",
        "titles": {"zh-CN": "核心课程"},
        "ratio": 3,
        "receives": {"dose_reminders": True, "lessons": True, "tracks": ["core"]},
    },
    {"code": "every-track", "titles": {"zh-CN": "全部课程"}, "receives": {"lessons": True}},
]
STUDY = {
    "study": {
        "key": "tracks",
        "titles": {"zh-CN": "课程"},
        "unit": "patient",
        "consent_version": "v1",
    },
    "arms": ARMS,
    "follow_up": [{"key": "baseline", "months": 0}],
}


def _track(code: str) -> CurriculumPublished:
    lesson = PublishedLesson(
        key=f"{code}-1",
        position=1,
        module="m",
        texts={"zh-CN": LessonText(title="课", notification="小课堂")},
    )
    cadence = Cadence(lessons_per_week=1, weekdays=[2], local_time="19:00")
    return CurriculumPublished(
        track=code,
        version=1,
        titles={"zh-CN": code},
        next_track=None,
        cadence=cadence,
        lessons=[lesson],
    )


async def _planned(db: Database) -> set[tuple[int, str]]:
    async with db.sessions() as session:
        rows = await session.execute(
            select(Occurrence.patient_id, Occurrence.kind).where(Occurrence.state == "planned")
        )
        return {(row.patient_id, row.kind) for row in rows}


async def test_an_arm_listing_its_tracks_gets_lessons_of_those_only(
    scheduler_db: Database, access_db: Database
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db)
    async with scheduler_db.transaction() as session:
        for code in ("core", "hiv"):
            await store_curriculum(_track(code), session)
    definition, problems = validate_study(STUDY)
    assert definition is not None, problems
    assert definition.block_sizes == [4, 8, 12]  # 1-3 times the ratios' sum (3 + 1)
    study = await service.store_study(scheduler_db, definition, "test")
    core = await enrol(ctx, yx, "0001", track="core")
    hiv = await enrol(ctx, yx, "0002", track="hiv")
    consent = Consent(version="v1", given_at=NOW)
    for patient in (core, hiv):
        data = ParticipantIn(study_id=study.id, consent=consent, baseline_on=date(2026, 11, 23))
        await participants.enrol(ctx, ADMIN, patient.id, data)
        drawn = await randomise.randomise(ctx, ADMIN, patient.id, study.id)
        if drawn.arm != "core-only":
            change = ArmChangeIn(arm="core-only", reason="this test's arm for everyone")
            await randomise.change_arm(ctx, ADMIN, patient.id, study.id, change)
    await planner.plan_ahead(scheduler_db, SchedulerSettings(), NOW)
    assert await _planned(scheduler_db) == {
        (core.id, "dose"),
        (core.id, "lesson"),
        (hiv.id, "dose"),  # the hiv track is not this arm's: no lesson
    }

    # The other arm: every track's lessons, and no dose reminders (it does not list them).
    change = ArmChangeIn(arm="every-track", reason="this test's other arm")
    await randomise.change_arm(ctx, ADMIN, hiv.id, study.id, change)
    await planner.plan_ahead(scheduler_db, SchedulerSettings(), NOW)
    assert {kind for patient, kind in await _planned(scheduler_db) if patient == hiv.id} == {
        "lesson"
    }
    # After the clinic closes on a day neither came: support for the arm with dose reminders.
    evening = (datetime.now(UTC) + timedelta(days=1)).replace(hour=10)  # 18:00 in Yuxi
    await doses.plan_missed_dose_support(
        scheduler_db, SchedulerSettings(), evening, access_db=access_db
    )
    supported = {p for p, kind in await _planned(scheduler_db) if kind == "missed_dose"}
    assert supported == {core.id}


async def _planned_for(db: Database, patient: int) -> set[str]:
    async with db.sessions() as session:
        kinds = await session.execute(
            select(Occurrence.kind).where(
                Occurrence.patient_id == patient, Occurrence.state == "planned"
            )
        )
        return set(kinds.scalars())


async def test_the_arm_decides_what_is_planned(world: World) -> None:
    outside, inside = await world.patient("A-8"), await world.patient("A-9")
    assert "dose" in await _planned_for(world.db, outside)
    # Enrolled, not randomised: only what every arm gets (routine care gets no pushes).
    await world.ready(inside)
    assert "dose" not in await _planned_for(world.db, inside)
    path = f"{inside}/studies/{world.yuxi}"
    arm = (await world.call(f"{path}/randomise")).json()["arm"]
    if arm == "control":
        assert "dose" not in await _planned_for(world.db, inside)
        change = {"arm": "intervention", "reason": "testing the intervention's policy"}
        assert (await world.call(f"{path}/arm", change, headers=world.admin)).status_code == 200
    assert "dose" in await _planned_for(world.db, inside)
    back = {"arm": "control", "reason": "testing the routine-care policy"}
    assert (await world.call(f"{path}/arm", back, headers=world.admin)).status_code == 200
    assert await _planned_for(world.db, inside) == set()
    # A survey question for routine care is planned visibly suppressed, never sent.
    for patient in (outside, inside):
        ask = SurveyRequested(patient_id=patient, run_id=1, question_key="q1", text="1-5?")
        async with world.db.transaction() as session:
            await ask_survey_question(ask, session)
    async with world.db.sessions() as session:
        asked = await session.execute(
            select(Occurrence.patient_id, Occurrence.state, Occurrence.reason).where(
                Occurrence.kind == "survey"
            )
        )
        states = {row.patient_id: (row.state, row.reason) for row in asked}
    assert states == {
        outside: ("planned", None),
        inside: ("suppressed", "the patient's study arm receives no surveys"),
    }
