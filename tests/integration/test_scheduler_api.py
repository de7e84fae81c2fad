"""The scheduler's coordinator API over HTTP: enrol, schedule, doses, reports, alerts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from services.scheduler.models import Alert, Dose
from shared.db import Database
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.schedutil import clinic

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def api(
    app_settings: Settings,
    access_db: Database,
    scheduler_db: Database,
    make_token: TokenFactory,
) -> AsyncIterator[tuple[Client, int, dict[str, str]]]:
    yx = await clinic(access_db, "YX")
    await clinic(access_db, "KM")
    coordinator = await make_token("coordinator", ["YX"])
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        client.headers["Authorization"] = f"Bearer {coordinator}"
        yield client, yx, {"Authorization": f"Bearer {await make_token('researcher')}"}


def _patient(clinic_id: int, number: str, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "clinic_id": clinic_id,
        "clinic_number": number,
        "display_name": "W.L.",
        "phone": "13900139000",
        "consent": {"version": "2026-01", "given_at": "2026-11-20T09:00:00+08:00"},
    }
    body.update(changes)
    return body


async def test_enrol_read_update_and_pause_over_http(
    api: tuple[Client, int, dict[str, str]],
) -> None:
    client, yx, researcher = api
    created = await client.post("/api/v1/patients", json=_patient(yx, "A-1"))
    assert created.status_code == 201, created.text
    patient = created.json()
    assert patient["phone"] == "+8613900139000"
    assert patient["time_zone"] == "Asia/Shanghai"  # the clinic's
    pid = patient["id"]

    refused = await client.post("/api/v1/patients", json=_patient(yx, "A-2", dose_time="7:30"))
    assert refused.status_code == 400
    assert "dose_time" in refused.text
    assert (await client.post("/api/v1/patients", json=_patient(yx, "A-1"))).status_code == 409
    assert (await client.get(f"/api/v1/patients/{pid}", headers=researcher)).status_code == 403

    found = await client.get("/api/v1/patients", params={"phone": "+86 139 0013 9000"})
    assert [p["id"] for p in found.json()] == [pid]
    changed = await client.patch(f"/api/v1/patients/{pid}", json={"dose_time": "08:00"})
    assert changed.json()["dose_time"] == "08:00"
    paused = await client.post(
        f"/api/v1/patients/{pid}/pause",
        json={
            "reason": "compulsory detoxification",
            "resume_on": (date.today() + timedelta(days=60)).isoformat(),
        },
    )
    assert paused.json()["state"] == "paused"
    assert (await client.post(f"/api/v1/patients/{pid}/resume")).json()["state"] == "active"


async def test_doses_batches_are_all_or_nothing_and_feed_adherence(
    api: tuple[Client, int, dict[str, str]],
    scheduler_db: Database,
) -> None:
    client, yx, _ = api
    pid = (await client.post("/api/v1/patients", json=_patient(yx, "B-1"))).json()["id"]
    now = datetime.now(UTC)
    bad = await client.post(
        f"/api/v1/clinics/{yx}/doses",
        json={
            "doses": [
                {"clinic_number": "B-1", "taken_at": now.isoformat()},
                {"clinic_number": "NOPE", "taken_at": now.isoformat()},
            ]
        },
    )
    assert bad.status_code == 400
    assert "NOPE" in bad.json()["detail"]
    async with scheduler_db.sessions() as session:
        assert (await session.execute(select(Dose))).first() is None  # nothing half-written

    future = await client.post(
        f"/api/v1/patients/{pid}/doses", json={"taken_at": (now + timedelta(hours=2)).isoformat()}
    )
    assert future.status_code == 400
    ok = await client.post(
        f"/api/v1/clinics/{yx}/doses",
        json={"doses": [{"clinic_number": "B-1", "taken_at": now.isoformat(), "mg": 60}]},
    )
    assert ok.json() == {"recorded": 1, "already_recorded": 0}
    again = await client.post(f"/api/v1/patients/{pid}/doses", json={"taken_at": now.isoformat()})
    assert again.json() == {"recorded": 0, "already_recorded": 1}  # one a day, idempotent

    adherence = (await client.get(f"/api/v1/patients/{pid}/adherence")).json()
    assert adherence["doses"] == 1
    assert adherence["daily"][-1] is True
    timeline = (await client.get(f"/api/v1/patients/{pid}/timeline")).json()
    assert "dose" in {entry["type"] for entry in timeline}
    day = (await client.get(f"/api/v1/clinics/{yx}/day")).json()
    assert day["active_patients"] == 1


async def add_alert(
    scheduler_db: Database, patient_id: int, clinic_id: int, raised_on: date | None = None
) -> int:
    """An open dropout alert, as the evening's sweep raises them; its id."""
    async with scheduler_db.transaction() as session:
        alert = Alert(
            patient_id=patient_id,
            clinic_id=clinic_id,
            kind="dropout_risk",
            raised_on=raised_on or date.today(),
            details={"missed_days": 3},
            state="open",
        )
        session.add(alert)
        await session.flush()
        return alert.id


async def test_alerts_are_listed_and_acknowledged_once(
    api: tuple[Client, int, dict[str, str]],
    scheduler_db: Database,
) -> None:
    client, yx, _ = api
    pid = (await client.post("/api/v1/patients", json=_patient(yx, "C-1"))).json()["id"]
    alert_id = await add_alert(scheduler_db, pid, yx)
    listed = (await client.get("/api/v1/alerts", params={"status": "open"})).json()
    assert [a["id"] for a in listed] == [alert_id]
    acked = await client.post(f"/api/v1/alerts/{alert_id}/acknowledge")
    assert acked.json()["state"] == "acknowledged"
    assert (await client.post(f"/api/v1/alerts/{alert_id}/acknowledge")).status_code == 409


async def test_one_off_reminders_on_given_days(api: tuple[Client, int, dict[str, str]]) -> None:
    client, yx, _ = api
    pid = (await client.post("/api/v1/patients", json=_patient(yx, "D-1"))).json()["id"]
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    body = {"kind": "urine_test", "on": tomorrow, "at": "09:30"}
    assert (await client.post(f"/api/v1/patients/{pid}/reminders", json=body)).status_code == 201
    again = await client.post(f"/api/v1/patients/{pid}/reminders", json=body)
    assert again.status_code == 409
    past = await client.post(
        f"/api/v1/patients/{pid}/reminders", json={"kind": "appointment", "on": "2020-01-01"}
    )
    assert past.status_code == 400
    assert "past" in past.json()["detail"]
    wrong = await client.post(
        f"/api/v1/patients/{pid}/reminders", json={"kind": "party", "on": tomorrow}
    )
    assert wrong.status_code == 400


async def test_out_of_range_ids_and_counts_are_400_not_500(
    api: tuple[Client, int, dict[str, str]],
) -> None:
    client, _clinic, _ = api
    huge = "99999999999999999999"
    for path, params in [
        (f"/api/v1/patients/{huge}", {}),
        (f"/api/v1/clinics/{huge}", {}),
        ("/api/v1/patients", {"after_id": huge}),
        ("/api/v1/alerts", {"clinic_id": huge}),
        ("/api/v1/patients/1/timeline", {"limit": "-1"}),
        ("/api/v1/patients/1/adherence", {"days": "0"}),
    ]:
        response = await client.get(path, params=params)
        # A clinic outside the coordinator's scope is "not found" before anything else.
        expected = (400, 404) if path.startswith("/api/v1/clinics/") else (400,)
        assert response.status_code in expected, (path, params, response.text)
