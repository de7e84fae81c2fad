"""Patient cards scanned at the counter, and follow-up notes on alerts, over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from shared.access.staff import get_staff, mint_staff_token
from shared.db import Database
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.schedutil import clinic
from tests.integration.test_scheduler_api import _patient, add_alert
from tests.integration.test_staff import coordinator

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def api(
    app_settings: Settings, access_db: Database, make_token: TokenFactory
) -> AsyncIterator[tuple[Client, int, int, dict[str, str]]]:
    """A client as 李娜 (a coordinator of YX signed in through the console's kind of token),
    clinics YX and KM, and an admin's headers."""
    yx, km = await clinic(access_db, "YX"), await clinic(access_db, "KM")
    staff = await get_staff(access_db, await coordinator(access_db))
    assert staff is not None
    token = await mint_staff_token(access_db, staff, timedelta(hours=1))
    admin = {"Authorization": f"Bearer {await make_token('admin')}"}
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, yx, km, admin


async def test_one_scan_records_the_dose_once_and_only_at_the_patients_clinic(
    api: tuple[Client, int, int, dict[str, str]], scheduler_db: Database
) -> None:
    client, yx, km, admin = api
    pid = (await client.post("/api/v1/patients", json=_patient(yx, "S-1"))).json()["id"]
    card = (await client.get(f"/api/v1/patients/{pid}/card")).json()
    code = card["code"]
    assert len(code) == 16
    assert str(pid) != code
    assert card["clinic_number"] == "S-1"

    scans = f"/api/v1/clinics/{yx}/card-scans"
    # As a scanner with Caps Lock on and a separator types it.
    first = await client.post(scans, json={"code": f" {code[:8].lower()}-{code[8:]}\n"})
    assert first.status_code == 200, first.text
    assert first.json()["recorded"] is True
    assert first.json()["patient_id"] == pid
    again = (await client.post(scans, json={"code": code})).json()
    assert again["recorded"] is False
    assert again["taken_at"] == first.json()["taken_at"]  # "already dosed at" the first time
    days = (await client.get(f"/api/v1/patients/{pid}/adherence", params={"days": 1})).json()
    assert days["doses"] == 1

    # Another clinic's card, scanned here: refused by name, nothing recorded.
    other = await client.post(
        "/api/v1/patients", json=_patient(km, "K-1", phone="13900139001"), headers=admin
    )
    other_code = (
        await client.get(f"/api/v1/patients/{other.json()['id']}/card", headers=admin)
    ).json()["code"]
    refused = await client.post(scans, json={"code": other_code})
    assert refused.status_code == 404
    assert "not a patient of clinic" in refused.json()["detail"]
    # The coordinator cannot scan at KM at all, and nonsense is refused with the reason.
    km_scan = await client.post(f"/api/v1/clinics/{km}/card-scans", json={"code": other_code})
    assert km_scan.status_code == 404
    nonsense = await client.post(scans, json={"code": "hello"})
    assert nonsense.status_code == 400
    assert nonsense.json()["detail"].startswith("code")
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert (await client.post(scans, json={"code": code, "taken_at": future})).status_code == 400

    # A lost card: the new code works, the old one no longer does.
    replaced = (await client.post(f"/api/v1/patients/{pid}/card")).json()["code"]
    assert replaced != code
    assert (await client.post(scans, json={"code": code})).status_code == 404
    assert (await client.post(scans, json={"code": replaced})).json()["recorded"] is False


async def test_follow_ups_on_an_alert_carry_an_outcome_and_the_writers_name(
    api: tuple[Client, int, int, dict[str, str]], scheduler_db: Database
) -> None:
    client, yx, km, admin = api
    pid = (await client.post("/api/v1/patients", json=_patient(yx, "F-1"))).json()["id"]
    alert_id = await add_alert(scheduler_db, pid, yx)
    notes = f"/api/v1/alerts/{alert_id}/followups"
    first = await client.post(notes, json={"text": "打了两次电话", "outcome": "not_reachable"})
    assert first.status_code == 201, first.text
    assert first.json()["author_name"] == "李娜 (li.na)"
    await client.post(notes, json={"text": "He called back."})  # a note without an outcome
    await client.post(notes, json={"text": "Referred to social work.", "outcome": "referred"})
    bad = await client.post(notes, json={"text": "x", "outcome": "vanished"})
    assert bad.status_code == 400
    assert (await client.post(notes, json={"text": ""})).status_code == 400

    page = (await client.get(f"/api/v1/patients/{pid}/page")).json()  # the console's one call
    assert page["patient"]["clinic_number"] == "F-1"
    assert page["calendar"]["patient_id"] == pid
    assert isinstance(page["timeline"], list)
    assert [len(a["followups"]) for a in page["alerts"]] == [3]
    listed = (await client.get("/api/v1/alerts", params={"patient_id": pid})).json()
    assert [a["id"] for a in listed] == [alert_id]
    assert listed[0]["state"] == "open"  # a note is not an acknowledgement
    assert listed[0]["outcome"] == "referred"  # the latest outcome named
    assert next(n["text"] for n in listed[0]["followups"]) == "打了两次电话"
    # Admin's token names no person: its label (none here) or its id stands in.
    by_admin = await client.post(notes, json={"text": "Seen."}, headers=admin)
    assert by_admin.json()["author_name"] is None
    assert by_admin.json()["author"]
    # Another clinic's coordinator cannot write on it.
    km_alert_id = await add_alert(scheduler_db, pid, km, date.today() - timedelta(days=1))
    elsewhere = await client.post(f"/api/v1/alerts/{km_alert_id}/followups", json={"text": "x"})
    assert elsewhere.status_code == 404
