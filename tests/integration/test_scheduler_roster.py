"""GET /clinics/{id}/roster: the counter's day, patient by patient (the console's Today)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from shared.access.models import AuditEntry
from shared.db import Database
from tests.integration.test_scheduler_api import Client, _patient
from tests.integration.test_scheduler_api import api as api  # the fixture: a coordinator of YX


async def test_the_roster_lists_active_patients_by_dose_time_with_the_days_dose(
    api: tuple[Client, int, dict[str, str]], access_db: Database
) -> None:
    client, yx, researcher = api
    ids = {}
    for number, dose_time in (
        ("B-2", "08:30"),
        ("A-1", "07:00"),
        ("B-1", "08:30"),
        ("C-1", "09:00"),
    ):
        made = await client.post("/api/v1/patients", json=_patient(yx, number, dose_time=dose_time))
        assert made.status_code == 201, made.text
        ids[number] = made.json()["id"]
    discharged = await client.post(f"/api/v1/patients/{ids['C-1']}/discharge")
    assert discharged.status_code == 200, discharged.text
    taken_at = datetime.now(UTC) - timedelta(minutes=5)
    dosed = await client.post(
        f"/api/v1/patients/{ids['B-1']}/doses", json={"taken_at": taken_at.isoformat(), "mg": 60}
    )
    assert dosed.status_code == 201, dosed.text

    answer = await client.get(f"/api/v1/clinics/{yx}/roster")
    assert answer.status_code == 200, answer.text
    roster = answer.json()
    assert [(p["clinic_number"], p["dose_time"]) for p in roster["patients"]] == [
        ("A-1", "07:00"),
        ("B-1", "08:30"),
        ("B-2", "08:30"),
    ]
    by_number = {p["clinic_number"]: p for p in roster["patients"]}
    assert by_number["B-1"]["mg"] == 60
    assert datetime.fromisoformat(by_number["B-1"]["dosed_at"]) == taken_at
    assert by_number["A-1"]["dosed_at"] is None
    assert roster["truncated"] is False
    limited = (await client.get(f"/api/v1/clinics/{yx}/roster", params={"limit": 2})).json()
    assert (len(limited["patients"]), limited["truncated"]) == (2, True)

    other_clinic = await client.get(f"/api/v1/clinics/{yx + 1}/roster")
    assert other_clinic.status_code == 404
    assert (await client.get(f"/api/v1/clinics/{yx}/roster", headers=researcher)).status_code == 403
    async with access_db.sessions() as session:
        routes = (
            await session.execute(select(AuditEntry.route, AuditEntry.clinic_id, AuditEntry.status))
        ).all()
    assert ("/api/v1/clinics/{clinic_id}/roster", yx, 200) in routes
