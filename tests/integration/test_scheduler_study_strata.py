"""Strata beside the clinic and an arm's switch for assessment reminders, over HTTP on the
real database: sex and an age band (given as a band, or found from the age) randomise
within their stratum, balanced in each; a stratum value the study does not declare is a
422 naming the field and writes nothing; an arm with `assessment_reminders: false` has its
reminders planned visibly suppressed with the reason while the other arm's are planned,
the staff's due list still shows both, and a change of arm decides again."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.scheduler.assessment_cli import read_questionnaires
from services.scheduler.assessment_models import AssessmentDue
from services.scheduler.assessment_plan import ARM_REASON, KIND
from services.scheduler.assessments import store_questionnaire
from services.scheduler.models import Occurrence
from services.scheduler.studies.models import AllocationLogEntry, StudyBlock, StudyParticipant
from tests.integration.test_scheduler_studies import World
from tests.integration.test_scheduler_studies import world as world  # the fixture
from tests.unit.test_assessment_definition import SHIPPED

CONSENT = {"version": "v1", "given_at": "2026-12-01T09:00:00+08:00"}
ARMS = [
    {"code": "online", "titles": {"zh-CN": "线上"}, "receives": {"dose_reminders": True}},
    {"code": "routine", "titles": {"zh-CN": "常规"}, "assessment_reminders": False},
]


def _study(key: str, **extra: Any) -> dict[str, Any]:
    head = {"key": key, "titles": {"zh-CN": key}, "unit": "patient", "consent_version": "v1"}
    return {
        "study": {**head, "block_sizes": [2]},  # one block of two: each pair is split
        "strata": [
            {"key": "sex", "values": ["male", "female"]},
            {"key": "age_band", "bands": ["18-39", "40-49", "50+"]},
        ],
        "arms": ARMS,
        "follow_up": [{"key": "baseline", "months": 0}, {"key": "month-3", "months": 3}],
        **extra,
    }


async def _define(world: World, definition: dict[str, Any]) -> int:
    made = await world.client.post(
        "/api/v1/studies", json={"definition": definition}, headers=world.admin
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


async def _enrol(world: World, study: int, number: str, **given: Any) -> tuple[int, Any]:
    patient = await world.patient(number)
    body = {"study_id": study, "consent": CONSENT, "baseline_on": str(date.today()), **given}
    return patient, await world.call(f"{patient}/studies", body)


async def test_sex_and_age_band_randomise_within_their_stratum(world: World) -> None:
    study = await _define(world, _study("strata"))
    shown = (await world.client.get(f"/api/v1/studies/{study}")).json()
    assert shown["strata"][1] == {
        "key": "age_band",
        "values": ["18-39", "40-49", "50+"],
        "age_bands": True,
    }
    people: list[tuple[dict[str, Any], str]] = [
        ({"strata": {"sex": "male"}, "age": 25}, "sex=male|age_band=18-39"),
        ({"strata": {"sex": "male", "age_band": "18-39"}}, "sex=male|age_band=18-39"),
        ({"strata": {"sex": "male"}, "age": 39}, "sex=male|age_band=18-39"),
        ({"strata": {"sex": "male", "age_band": "18-39"}, "age": 30}, "sex=male|age_band=18-39"),
        ({"strata": {"sex": "female"}, "age": 71}, "sex=female|age_band=50+"),
        ({"strata": {"sex": "female", "age_band": "50+"}}, "sex=female|age_band=50+"),
    ]
    for index, (given, stratum) in enumerate(people):
        patient, enrolled = await _enrol(world, study, f"S-{index}", **given)
        assert enrolled.status_code == 201, enrolled.text
        sex, band = (part.split("=")[1] for part in stratum.split("|"))
        assert enrolled.json()["strata"] == {"sex": sex, "age_band": band}
        done = await world.call(f"{patient}/studies/{study}/randomise")
        assert done.status_code == 200, done.text
    async with world.db.sessions() as session:
        log = (
            await session.execute(
                select(AllocationLogEntry.stratum, AllocationLogEntry.arm).where(
                    AllocationLogEntry.study_id == study
                )
            )
        ).all()
        kept = (
            await session.execute(
                select(StudyParticipant.strata).where(StudyParticipant.study_id == study)
            )
        ).scalars()
        assert all("age" not in strata for strata in kept)  # the band only, never the age
    by_stratum = Counter((stratum, arm) for stratum, arm in log)
    assert by_stratum == {  # blocks of two in each stratum: exactly balanced
        ("sex=male|age_band=18-39", "online"): 2,
        ("sex=male|age_band=18-39", "routine"): 2,
        ("sex=female|age_band=50+", "online"): 1,
        ("sex=female|age_band=50+", "routine"): 1,
    }


@pytest.mark.parametrize(
    ("given", "field", "reason"),
    [
        ({"strata": {"sex": "x", "age_band": "40-49"}}, "strata.sex", "not one of male, female"),
        ({"strata": {"sex": "male", "age_band": "40-45"}}, "strata.age_band", "not one of"),
        ({"strata": {"sex": "male"}, "age": 17}, "age", "17 is in none of age_band's bands"),
        ({"strata": {"sex": "male", "age_band": "50+"}, "age": 42}, "strata.age_band", "age 42"),
        ({"strata": {"sex": "male"}}, "strata.age_band", "missing"),
        ({"strata": {"sex": "male", "age_band": "50+", "smoker": "y"}}, "strata.smoker", "not a"),
    ],
)
async def test_a_stratum_the_study_does_not_declare_is_refused_writing_nothing(
    world: World, given: dict[str, Any], field: str, reason: str
) -> None:
    study = await _define(world, _study("refusals"))
    before = await world.count(StudyParticipant)
    _patient, refused = await _enrol(world, study, "R-1", **given)
    assert refused.status_code == 422, refused.text
    assert f"{field}: " in refused.json()["detail"]
    assert reason in refused.json()["detail"]
    assert await world.count(StudyParticipant) == before
    assert await world.count(StudyBlock) == 0


async def test_an_age_is_refused_by_a_study_without_age_bands(world: World) -> None:
    patient = await world.patient("R-2")
    body = {"study_id": world.care, "age": 40}  # MMT CARE: stratified by clinic only
    refused = await world.call(f"{patient}/studies", body)
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("age: this study has no age band factor")
    too_old = await world.call(f"{patient}/studies", {**body, "age": 121})
    assert too_old.status_code == 400  # out of the schema's bounds, before any rule
    assert await world.count(StudyParticipant) == 0


async def _reminders(world: World, patient: int) -> dict[str, tuple[str, str | None]]:
    """The patient's assessment reminders by time point: (state, reason)."""
    async with world.db.sessions() as session:
        points = dict(
            (await session.execute(select(AssessmentDue.id, AssessmentDue.time_point))).all()
        )
        rows = await session.execute(
            select(Occurrence.slot, Occurrence.state, Occurrence.reason).where(
                Occurrence.patient_id == patient, Occurrence.kind == KIND
            )
        )
        return {points[int(slot[4:])]: (state, reason) for slot, state, reason in rows}


async def test_an_arm_without_assessment_reminders_gets_none_but_stays_due(
    world: World,
) -> None:
    found, problems = read_questionnaires([SHIPPED])
    assert problems == []
    for _name, form in found:
        await store_questionnaire(world.db, form, None, "test")
    study = await _define(world, _study("reminders"))
    arms: dict[str, int] = {}
    for number in ("P-1", "P-2"):  # one block of two in one stratum: one in each arm
        patient, enrolled = await _enrol(
            world, study, number, strata={"sex": "female", "age_band": "40-49"}
        )
        assert enrolled.status_code == 201, enrolled.text
        done = await world.call(f"{patient}/studies/{study}/randomise")
        arms[done.json()["arm"]] = patient
        planned = await world.client.put(
            f"/api/v1/patients/{patient}/assessment-plan/study/{study}",
            json={"instruments": ["hiv-knowledge"]},
        )
        assert planned.status_code == 200, planned.text
    assert set(arms) == {"online", "routine"}
    assert (await _reminders(world, arms["online"]))["month-3"] == ("planned", None)
    assert (await _reminders(world, arms["routine"]))["month-3"] == ("suppressed", ARM_REASON)
    # The staff still see both participants' time points due.
    until = date.today() + timedelta(days=200)
    due = await world.client.get(f"/api/v1/clinics/{world.yx}/assessments-due?until={until}")
    assert due.status_code == 200, due.text
    listed = Counter(row["patient_id"] for row in due.json() if row["time_point"] == "month-3")
    assert listed == {arms["online"]: 1, arms["routine"]: 1}

    # An admin's correction of the arm decides again.
    moved = await world.call(
        f"{arms['routine']}/studies/{study}/arm",
        {"arm": "online", "reason": "randomised in error"},
        headers=world.admin,
    )
    assert moved.status_code == 200, moved.text
    assert (await _reminders(world, arms["routine"]))["month-3"] == ("planned", None)
