"""Choosing an arm's interviewees over HTTP: randomised, not lost, spread by lessons opened;
stored with its seed and shown again; the same seed redraws the same list; admins only."""

from __future__ import annotations

from datetime import UTC, datetime

from services.scheduler.models import LessonProgress
from tests.integration.test_scheduler_studies import World
from tests.integration.test_scheduler_studies import world as world  # the fixture


async def _used(world: World, patient: int, sent: int, opened: int) -> None:
    async with world.db.transaction() as session:
        session.add_all(
            LessonProgress(
                patient_id=patient,
                track="core",
                lesson_key=f"l{i}",
                state="opened" if i < opened else "sent",
                at=datetime.now(UTC),
            )
            for i in range(sent)
        )


async def test_interviewees_are_spread_over_use_and_redrawn_from_the_seed(world: World) -> None:
    arms: dict[int, str] = {}
    expected: dict[int, str] = {}
    for n in range(9):
        patient = await world.patient(f"I-{n}")
        await world.ready(patient)
        done = await world.call(f"{patient}/studies/{world.yuxi}/randomise")
        arms[patient] = done.json()["arm"]
        await _used(world, patient, sent=3, opened=(3, 1, 0)[n % 3])
        expected[patient] = ("often", "sometimes", "never")[n % 3]
    arm = arms[min(arms)]
    in_arm = {p for p, a in arms.items() if a == arm}
    url = f"/api/v1/studies/{world.yuxi}/interviews"

    made = await world.client.post(url, json={"arm": arm, "count": 12}, headers=world.admin)
    assert made.status_code == 201, made.text
    body = made.json()
    assert {p["patient_id"] for p in body["patients"]} == in_arm  # fewer than 12: all of them
    assert sum(body["eligible"].values()) == len(in_arm)
    assert {p["patient_id"]: p["level"] for p in body["patients"]} == {
        p: expected[p] for p in in_arm
    }

    two = await world.client.post(
        url, json={"arm": arm, "count": 2, "seed": 99}, headers=world.admin
    )
    again = await world.client.post(
        url, json={"arm": arm, "count": 2, "seed": 99}, headers=world.admin
    )
    assert [p["patient_id"] for p in two.json()["patients"]] == [
        p["patient_id"] for p in again.json()["patients"]
    ]
    shown = await world.client.get(f"{url}/{two.json()['id']}", headers=world.admin)
    assert shown.json()["seed"] == 99
    assert shown.json()["patients"] == two.json()["patients"]


async def test_interview_choices_are_for_admins_and_bad_values_are_refused(world: World) -> None:
    url = f"/api/v1/studies/{world.yuxi}/interviews"
    coordinator = await world.client.post(url, json={"arm": "control"})
    assert coordinator.status_code == 403
    for body, reason in (
        ({"arm": "nope"}, "arm: study"),
        ({"arm": "control", "count": 0}, "count must be 1-50"),
        ({"arm": "control", "seed": -1}, "seed must be"),
    ):
        refused = await world.client.post(url, json=body, headers=world.admin)
        assert refused.status_code == 400, body
        assert reason in refused.json()["detail"]
    assert (await world.client.get(f"{url}/12345", headers=world.admin)).status_code == 404
    unknown = await world.client.post(
        "/api/v1/studies/4242/interviews", json={"arm": "control"}, headers=world.admin
    )
    assert unknown.status_code == 404
