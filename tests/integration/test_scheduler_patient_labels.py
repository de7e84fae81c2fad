"""Patients' clinic numbers and names by id (`GET /clinics/{id}/patient-labels`), what a
list of tasks shows: only the clinic's own patients, another clinic a 404, bad ids a 400
naming the parameter."""

from __future__ import annotations

from tests.integration.test_scheduler_assessments import World
from tests.integration.test_scheduler_assessments import world as world  # the fixture


async def test_labels_name_only_the_clinics_own_patients(world: World) -> None:
    url = f"/api/v1/clinics/{world.yx}/patient-labels"
    shown = await world.client.get(url, params={"id": [world.patient, world.other, 999]})
    assert shown.status_code == 200, shown.text
    assert shown.json() == [{"id": world.patient, "clinic_number": "A-1", "display_name": "W.L."}]

    elsewhere = await world.client.get(
        f"/api/v1/clinics/{world.km}/patient-labels", params={"id": [world.other]}
    )
    assert elsewhere.status_code == 404  # the token is YX's
    for bad in ([0], [2**31], list(range(1, 202))):
        refused = await world.client.get(url, params={"id": bad})
        assert refused.status_code == 400, bad
        assert "id" in refused.json()["detail"]
    assert (await world.client.get(url)).status_code == 400  # no id at all
