"""Needs, feedback and ratings for coordinators over HTTP: clinic scope and the care loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.feedback.grammar import Grammar
from services.feedback.inbound import Inbound, Receiver
from shared.access.clinics import ClinicIn, create_clinic
from shared.db import Database
from shared.messages import LessonSent, PatientEnrolled
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.test_feedback_inbound import handle

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def seeded(feedback_db: Database, access_db: Database) -> tuple[int, int]:
    """Clinic A's patient 1 and clinic B's patient 2, each with a need and a rating."""
    a = await create_clinic(
        access_db, ClinicIn(code="YX-A", name="Yuxi", help_phone="0877 2012345")
    )
    b = await create_clinic(
        access_db, ClinicIn(code="KM-B", name="Kunming secret", help_phone="0871 65123456")
    )
    receiver = Receiver(feedback_db, access_db, Grammar())
    for pid, clinic in ((1, a.id), (2, b.id)):
        await handle(
            feedback_db,
            PatientEnrolled(
                patient_id=pid,
                clinic_id=clinic,
                phone_hash=f"phone-{pid}",
                openid_hash=None,
                language="zh-CN",
                study_arm=None,
            ),
            LessonSent(
                message_id=f"m{pid}",
                patient_id=pid,
                clinic_id=clinic,
                track="core",
                lesson_key="why-daily",
                version=1,
            ),
        )
        send = {"channel": "sms", "sender_hash": f"phone-{pid}"}
        await receiver.receive(Inbound(provider_id=f"{pid}-1", text="我没钱交房租", **send))
        await receiver.receive(Inbound(provider_id=f"{pid}-2", text="我想死", **send))
        await receiver.receive(Inbound(provider_id=f"{pid}-3", text=str(pid + 2), **send))
    return a.id, b.id


@pytest.fixture
async def clients(
    seeded: tuple[int, int], app_settings: Settings, make_token: TokenFactory
) -> AsyncIterator[tuple[Client, dict[str, str], dict[str, str]]]:
    coordinator = await make_token("coordinator", ["YX-A"])
    admin = {"Authorization": f"Bearer {await make_token('admin')}"}
    researcher = {"Authorization": f"Bearer {await make_token('researcher')}"}
    async with AsyncTestClient(app=build_service_app("feedback", app_settings)) as client:
        client.headers["Authorization"] = f"Bearer {coordinator}"
        yield client, admin, researcher


async def test_a_coordinator_sees_only_its_clinics_needs(
    clients: tuple[Client, dict[str, str], dict[str, str]], seeded: tuple[int, int]
) -> None:
    client, admin, researcher = clients
    a, b = seeded
    mine = (await client.get("/api/v1/needs")).json()
    assert [(n["clinic_id"], n["urgent"], n["category"]) for n in mine] == [
        (a, True, "counselling"),
        (a, False, "housing_income"),
    ]
    assert mine[0]["text"] == "我想死"
    assert (await client.get("/api/v1/needs", params={"clinic_id": b})).json() == []
    everyone = (await client.get("/api/v1/needs", headers=admin)).json()
    assert {n["clinic_id"] for n in everyone} == {a, b}
    theirs = next(n["id"] for n in everyone if n["clinic_id"] == b)
    assert (await client.get(f"/api/v1/needs/{theirs}")).status_code == 404
    patched = await client.patch(f"/api/v1/needs/{theirs}", json={"status": "in_progress"})
    assert patched.status_code == 404
    noted = await client.post(f"/api/v1/needs/{theirs}/notes", json={"text": "called"})
    assert noted.status_code == 404
    assert (await client.get("/api/v1/needs", headers=researcher)).status_code == 403
    urgent = (await client.get("/api/v1/needs", params={"urgent": "true"})).json()
    assert [n["text"] for n in urgent] == ["我想死"]
    page = (await client.get("/api/v1/needs", params={"limit": 1})).json()
    rest = (
        await client.get("/api/v1/needs", params={"limit": 5, "before_id": page[0]["id"]})
    ).json()
    assert [n["id"] for n in page + rest] == [n["id"] for n in mine]


async def test_the_care_loop_moves_a_need_along_with_notes(
    clients: tuple[Client, dict[str, str], dict[str, str]],
) -> None:
    client, _, _ = clients
    need = (await client.get("/api/v1/needs", params={"urgent": "true"})).json()[0]
    path = f"/api/v1/needs/{need['id']}"
    note = await client.post(f"{path}/notes", json={"text": "Called back, coming in today."})
    assert note.status_code == 201, note.text
    started = await client.patch(path, json={"status": "in_progress"})
    assert started.status_code == 200
    resolved = await client.patch(path, json={"status": "resolved"})
    assert resolved.json()["status"] == "resolved"
    assert (await client.patch(path, json={"status": "new"})).status_code == 409
    detail = (await client.get(path)).json()
    assert [n["text"] for n in detail["notes"]] == ["Called back, coming in today."]
    assert detail["notes"][0]["author"] == client.headers["Authorization"].split("_")[1]
    assert detail["notes"][0]["author_name"] is None  # a token of `mmt token create`: no one
    assert detail["updated_by"] == detail["notes"][0]["author"]
    assert (await client.patch(path, json={"status": "done"})).status_code == 400


async def test_feedback_and_ratings_are_scoped_and_carry_no_identifiers(
    clients: tuple[Client, dict[str, str], dict[str, str]], seeded: tuple[int, int]
) -> None:
    client, admin, _ = clients
    a, b = seeded
    feedback = (await client.get("/api/v1/feedback")).json()
    assert [f["kind"] for f in feedback] == ["rating", "need", "need"]
    assert {f["clinic_id"] for f in feedback} == {a}
    assert feedback[0]["text"] is None
    assert "phone" not in str(feedback)
    ratings = (await client.get("/api/v1/feedback", params={"kind": "rating"})).json()
    assert [r["rating"] for r in ratings] == [3]
    since = await client.get("/api/v1/feedback", params={"since": "2000-01-01T00:00:00+08:00"})
    assert len(since.json()) == 3
    summary = (await client.get("/api/v1/ratings/summary")).json()
    assert summary == [{"track": "core", "lesson_key": "why-daily", "ratings": 1, "average": 3.0}]
    assert (await client.get("/api/v1/ratings/summary", params={"clinic_id": b})).json() == []
    both = (await client.get("/api/v1/ratings/summary", headers=admin)).json()
    assert both[0]["ratings"] == 2
    assert both[0]["average"] == 3.5
