"""A questionnaire whole, as a clinic uses it (`GET /assessment-instruments/{code}`): the
console's staff form asks its questions on its scales. Another clinic, or a code not
loaded, is a 404."""

from __future__ import annotations

from tests.integration.test_scheduler_assessments import World
from tests.integration.test_scheduler_assessments import world as world  # the fixture


async def test_a_questionnaire_is_read_whole_for_a_clinic_of_the_token(world: World) -> None:
    url = "/api/v1/assessment-instruments/treatment-motivation"
    shown = await world.client.get(url, params={"clinic_id": world.yx})
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["titles"]["en"] == "Treatment motivation questionnaire"
    assert body["questions"][0]["key"] == "pr-1"
    assert body["questions"][0]["texts"]["zh-CN"] == "使用毒品给我的生活带来了麻烦。"
    assert [a["value"] for a in body["scales"][0]["answers"]] == ["1", "2", "3", "4", "5"]
    assert {s["key"] for s in body["scores"]} >= {"problem-recognition", "motivation"}

    elsewhere = await world.client.get(url, params={"clinic_id": world.km})
    assert elsewhere.status_code == 404  # the token is YX's
    unknown = await world.client.get(
        "/api/v1/assessment-instruments/no-such-form", params={"clinic_id": world.yx}
    )
    assert unknown.status_code == 404
    missing = await world.client.get(url)
    assert missing.status_code == 400  # clinic_id is required
