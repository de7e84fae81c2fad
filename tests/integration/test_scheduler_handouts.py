"""Printed lesson handouts given to a patient (issue 21 part 4, the routine-care arm): the
lesson is checked against the curriculum the scheduler holds, the giver's name is kept, a
second record of the same lesson on the same clinic day is the first one (200), another
clinic's patient is 404, and bad values are 400s naming the field."""

from __future__ import annotations

import re

from services.scheduler.readmodel import store_curriculum
from shared.db import Database
from shared.messages import Cadence, CurriculumPublished, LessonText, PublishedLesson
from tests.integration.test_scheduler_risk import World
from tests.integration.test_scheduler_risk import world as world  # the fixture


async def _publish(scheduler_db: Database, version: int, keys: list[str]) -> None:
    event = CurriculumPublished(
        track="core",
        version=version,
        titles={"zh-CN": "核心"},
        next_track=None,
        cadence=Cadence(lessons_per_week=3, weekdays=[1, 3, 5], local_time="19:00"),
        lessons=[
            PublishedLesson(
                key=key,
                position=i,
                module="m",
                texts={"zh-CN": LessonText(title=key, notification="今天的健康小课堂")},
            )
            for i, key in enumerate(keys, start=1)
        ],
    )
    async with scheduler_db.transaction() as session:
        await store_curriculum(event, session)


async def test_a_handout_is_recorded_once_a_day_with_who_gave_it(
    world: World, scheduler_db: Database
) -> None:
    await _publish(scheduler_db, 1, ["daily-dose", "side-effects"])
    await _publish(scheduler_db, 2, ["daily-dose", "side-effects", "naloxone"])
    url = f"/api/v1/patients/{world.patient}/handouts"
    given = await world.client.post(url, json={"track": "core", "lesson_key": "naloxone"})
    assert given.status_code == 201, given.text
    body = given.json()
    assert (body["version"], body["language"], body["already_recorded"]) == (2, "zh-CN", False)
    assert re.fullmatch(r"[0-9a-f]{12}", body["given_by"])  # the token that recorded it
    assert body["given_by_name"] is None  # a test token names no person and has no label

    again = await world.client.post(url, json={"track": "core", "lesson_key": "naloxone"})
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["already_recorded"]) == (body["id"], True)

    older = {"track": "core", "lesson_key": "side-effects", "version": 1, "language": "en"}
    second = await world.client.post(url, json=older)
    assert second.status_code == 201
    assert (second.json()["version"], second.json()["language"]) == (1, "en")
    listed = (await world.client.get(url)).json()
    assert [(h["lesson_key"], h["version"]) for h in listed] == [
        ("side-effects", 1),
        ("naloxone", 2),
    ]  # newest first


async def test_unknown_lessons_other_clinics_and_bad_values_are_refused(
    world: World, scheduler_db: Database
) -> None:
    await _publish(scheduler_db, 1, ["daily-dose"])
    url = f"/api/v1/patients/{world.patient}/handouts"
    cases = {
        "lesson_key: track 'core' version 1 has no lesson 'nope'": {"lesson_key": "nope"},
        "track: no published track 'other'": {"track": "other"},
        "track: no published version 7 of track 'core'": {"version": 7},
    }
    for reason, change in cases.items():
        answer = await world.client.post(
            url, json={"track": "core", "lesson_key": "daily-dose", **change}
        )
        assert answer.status_code == 400, change
        assert reason in answer.json()["detail"], answer.text
    unknown_field = {"track": "core", "lesson_key": "daily-dose", "note": "x"}
    assert (await world.client.post(url, json=unknown_field)).status_code == 400
    elsewhere = f"/api/v1/patients/{world.other}/handouts"
    refused = await world.client.post(elsewhere, json={"track": "core", "lesson_key": "daily-dose"})
    assert refused.status_code == 404
    assert (await world.client.get(elsewhere)).status_code == 404
    assert (await world.client.get(url)).json() == []  # nothing written by any refusal
