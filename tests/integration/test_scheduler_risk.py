"""Risk assessments over HTTP: instruments loaded per clinic or for all, assessments scored
into bands, a rise in band raising one follow-up alert (a retried request none more), the
history, clinic scope and the audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from services.scheduler.models import Outbox
from shared.bus import decode
from shared.db import Database
from shared.messages import RiskAlertRaised
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.schedutil import clinic

Client = AsyncTestClient[Litestar]
SHIPPED = yaml.safe_load(
    (Path(__file__).parents[2] / "risk" / "retention-risk.yaml").read_text(encoding="utf-8")
)
LOW = {
    "missed-days": "none",
    "urine": "negative",
    "other-substances": "no",
    "craving": "never",
    "housing": "stable",
    "support": "good",
    "legal": "no",
}
MEDIUM = {**LOW, "missed-days": "some", "urine": "positive"}  # 2 + 3 = 5
HIGH = {**MEDIUM, "housing": "unstable", "support": "none"}  # 5 + 2 + 2 = 9


@dataclass
class World:
    client: Client
    yx: int
    km: int
    admin: dict[str, str]
    patient: int
    other: int  # a KM patient


def _enrolment(clinic_id: int, number: str) -> dict[str, object]:
    return {
        "clinic_id": clinic_id,
        "clinic_number": number,
        "display_name": "W.L.",
        "phone": "13900139000",
        "consent": {"version": "2026-01", "given_at": "2026-11-20T09:00:00+08:00"},
    }


@pytest.fixture
async def world(
    app_settings: Settings, access_db: Database, scheduler_db: Database, make_token: TokenFactory
) -> AsyncIterator[World]:
    yx, km = await clinic(access_db, "YX"), await clinic(access_db, "KM")
    admin = {"Authorization": f"Bearer {await make_token('admin')}"}
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        client.headers["Authorization"] = f"Bearer {await make_token('coordinator', ['YX'])}"
        patient = (await client.post("/api/v1/patients", json=_enrolment(yx, "A-1"))).json()
        other = await client.post("/api/v1/patients", json=_enrolment(km, "B-1"), headers=admin)
        loaded = await client.post(
            "/api/v1/risk-instruments", json={"definition": SHIPPED}, headers=admin
        )
        assert loaded.status_code == 201, loaded.text
        assert loaded.json()["outcome"] == "loaded"
        yield World(client, yx, km, admin, patient["id"], other.json()["id"])


def _assessment(answers: dict[str, str], day: int) -> dict[str, Any]:
    return {
        "instrument": "retention-risk",
        "answers": answers,
        "assessed_by": "Dr Zhang",
        "assessed_at": f"2026-11-{day:02d}T10:00:00+08:00",
    }


async def _alerts(world: World) -> list[dict[str, Any]]:
    alerts = (await world.client.get("/api/v1/alerts")).json()
    return [alert for alert in alerts if alert["kind"] == "risk_rise"]


async def _rises(db: Database) -> list[RiskAlertRaised]:
    async with db.sessions() as session:
        rows = (await session.execute(select(Outbox))).scalars().all()
    return [
        m for m in (decode({"m": row.payload}) for row in rows) if isinstance(m, RiskAlertRaised)
    ]


async def test_a_rise_in_band_raises_one_alert_and_a_retry_raises_nothing_more(
    world: World, scheduler_db: Database
) -> None:
    url = f"/api/v1/patients/{world.patient}/risk-assessments"
    first = await world.client.post(url, json=_assessment(LOW, 1))
    assert first.status_code == 201, first.text
    assert (first.json()["total"], first.json()["band"], first.json()["alert_id"]) == (
        0,
        "low",
        None,
    )

    rise = await world.client.post(url, json=_assessment(MEDIUM, 8))
    body = rise.json()
    assert (body["total"], body["band"], body["previous_band"]) == (5, "medium", "low")
    assert body["alert_id"] is not None

    again = await world.client.post(url, json=_assessment(MEDIUM, 8))  # a client's retry
    assert again.status_code == 201
    assert again.json()["already_recorded"] is True
    assert again.json()["id"] == body["id"]
    assert again.json()["alert_id"] == body["alert_id"]

    [alert] = await _alerts(world)
    assert alert["id"] == body["alert_id"]
    assert alert["details"] == {
        "assessment_id": body["id"],
        "instrument": "retention-risk",
        "from_band": "low",
        "to_band": "medium",
    }
    assert [(e.alert_id, e.from_band, e.to_band) for e in await _rises(scheduler_db)] == [
        (body["alert_id"], "low", "medium")
    ]

    # Higher again while that alert is open: recorded, but no second alert for one follow-up.
    higher = (await world.client.post(url, json=_assessment(HIGH, 15))).json()
    assert (higher["band"], higher["previous_band"], higher["alert_id"]) == ("high", "medium", None)
    # Down again: no alert.
    lower = (await world.client.post(url, json=_assessment(LOW, 22))).json()
    assert (lower["band"], lower["alert_id"]) == ("low", None)
    assert len(await _alerts(world)) == 1
    assert len(await _rises(scheduler_db)) == 1

    history = (await world.client.get(url)).json()
    assert [(h["assessed_at"][:10], h["band"], h["previous_band"]) for h in history] == [
        ("2026-11-22", "low", "high"),
        ("2026-11-15", "high", "medium"),
        ("2026-11-08", "medium", "low"),
        ("2026-11-01", "low", None),
    ]
    assert history[2]["alert_id"] == body["alert_id"]

    changed = await world.client.post(url, json=_assessment(HIGH, 8))
    assert changed.status_code == 409
    assert "other answers" in changed.text


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"answers": {**LOW, "urine": "maybe"}}, "answers.urine: 'maybe' is not one of"),
        ({"answers": {"urine": "negative"}}, "answers.missed-days: missing"),
        ({"instrument": "phq-9"}, "no instrument 'phq-9' is loaded for this clinic"),
        ({"assessed_at": "2099-01-01T10:00:00+08:00"}, "assessed_at: is in the future"),
        ({"assessed_by": " "}, "assessed_by: give the assessor's name"),
        ({"score": 3}, "score"),
    ],
)
async def test_bad_assessments_are_refused_with_the_reason(
    world: World, change: dict[str, Any], reason: str
) -> None:
    refused = await world.client.post(
        f"/api/v1/patients/{world.patient}/risk-assessments",
        json={**_assessment(LOW, 1), **change},
    )
    assert refused.status_code == 400
    assert reason in refused.text


async def test_instruments_and_assessments_stay_within_the_clinic(world: World) -> None:
    client = world.client
    other_url = f"/api/v1/patients/{world.other}/risk-assessments"
    assert (await client.post(other_url, json=_assessment(LOW, 1))).status_code == 404
    assert (await client.get(other_url)).status_code == 404

    km_own = {**SHIPPED, "instrument": {**SHIPPED["instrument"], "code": "km-check"}}
    for_km = {"clinic_id": world.km, "definition": km_own}
    assert (await client.post("/api/v1/risk-instruments", json=for_km)).status_code == 404
    for_all = await client.post("/api/v1/risk-instruments", json={"definition": km_own})
    assert for_all.status_code == 400
    assert "only admins" in for_all.text
    made = await client.post("/api/v1/risk-instruments", json=for_km, headers=world.admin)
    assert made.json()["clinic_id"] == world.km

    mine = (await client.get("/api/v1/risk-instruments")).json()
    assert [(i["code"], i["clinic_id"]) for i in mine] == [("retention-risk", None)]
    assert (await client.get(f"/api/v1/risk-instruments?clinic_id={world.km}")).status_code == 404
    km_assessment = {**_assessment(LOW, 1), "instrument": "km-check"}
    refused = await client.post(
        f"/api/v1/patients/{world.patient}/risk-assessments", json=km_assessment
    )
    assert refused.status_code == 400  # KM's instrument is not YX's to use
    used = await client.post(other_url, json=km_assessment, headers=world.admin)
    assert used.status_code == 201


async def test_definitions_are_refused_naming_each_field_and_versions_never_change(
    world: World,
) -> None:
    bad = {**SHIPPED, "bands": [{"band": "low", "min": 0}, {"band": "severe", "min": 3}]}
    refused = await world.client.post(
        "/api/v1/risk-instruments", json={"clinic_id": world.yx, "definition": bad}
    )
    assert refused.status_code == 400
    assert "bands[1].band: 'severe' is not one of low, medium, high" in refused.text

    again = await world.client.post(
        "/api/v1/risk-instruments", json={"definition": SHIPPED}, headers=world.admin
    )
    assert again.json()["outcome"] == "unchanged"
    edited = {**SHIPPED, "bands": [{"band": "low", "min": 0}, {"band": "high", "min": 3}]}
    clash = await world.client.post(
        "/api/v1/risk-instruments", json={"definition": edited}, headers=world.admin
    )
    assert clash.status_code == 409
    assert "new version" in clash.text


async def test_recording_and_reading_assessments_is_audited(world: World) -> None:
    url = f"/api/v1/patients/{world.patient}/risk-assessments"
    await world.client.post(url, json=_assessment(LOW, 1))
    await world.client.get(url)
    entries = (
        await world.client.get(
            "/api/v1/audit", headers=world.admin, params={"resource_type": "patient"}
        )
    ).json()
    routes = [(e["route"], e["action"], e["status"]) for e in entries]
    route = "/api/v1/patients/{patient_id}/risk-assessments"
    assert (route, "create", 201) in routes
    assert (route, "read", 200) in routes
    assert "Dr Zhang" not in str(entries)
