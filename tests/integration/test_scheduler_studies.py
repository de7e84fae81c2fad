"""Studies over HTTP on the real PostgreSQL: definitions, enrolment, consent and baseline
before a concealed randomisation, refusals that write nothing, an admin's change of arm in
the append-only log, cluster randomisation, loss to follow-up, and the arm's policy in the
planner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from services.scheduler.studies import randomise
from services.scheduler.studies.models import AllocationLogEntry, StudyBlock
from shared.access.models import AuditEntry
from shared.db import Database
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.schedutil import ADMIN, clinic, context

Client = AsyncTestClient[Litestar]
FOLDER = Path(__file__).parents[2] / "studies"
YUXI = yaml.safe_load((FOLDER / "yuxi-wechat.yaml").read_text(encoding="utf-8"))
CARE = yaml.safe_load((FOLDER / "mmt-care.yaml").read_text(encoding="utf-8"))
CONSENT = {"version": "yuxi-v1", "given_at": "2026-12-01T09:00:00+08:00"}
STRATA = {"sex": "male", "age_band": "40-49"}


@dataclass
class World:
    client: Client
    db: Database
    access_db: Database
    yx: int
    km: int
    admin: dict[str, str]
    yuxi: int
    care: int

    async def patient(self, number: str, clinic_id: int | None = None) -> int:
        body = {
            "clinic_id": clinic_id or self.yx,
            "clinic_number": number,
            "display_name": "W.L.",
            "phone": "13900139000",
            "consent": {"version": "2026-01", "given_at": "2026-11-20T09:00:00+08:00"},
        }
        made = await self.client.post("/api/v1/patients", json=body, headers=self.admin)
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    async def call(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return await self.client.post(f"/api/v1/patients/{path}", json=body or {}, **kwargs)

    async def ready(self, patient: int, study: int | None = None) -> None:
        """Enrolled with consent and baseline: ready to be randomised."""
        body = {"study_id": study or self.yuxi, "consent": CONSENT, "strata": STRATA}
        enrolled = await self.call(f"{patient}/studies", {**body, "baseline_on": "2026-12-01"})
        assert enrolled.status_code == 201, enrolled.text

    async def count(self, model: Any) -> int:
        async with self.db.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def world(
    app_settings: Settings, access_db: Database, scheduler_db: Database, make_token: TokenFactory
) -> AsyncIterator[World]:
    yx, km = await clinic(access_db, "YX"), await clinic(access_db, "KM")
    admin = {"Authorization": f"Bearer {await make_token('admin')}"}
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        client.headers["Authorization"] = f"Bearer {await make_token('coordinator', ['YX'])}"
        ids = []
        for definition in (YUXI, CARE):
            made = await client.post(
                "/api/v1/studies", json={"definition": definition}, headers=admin
            )
            assert made.status_code == 201, made.text
            assert made.json()["outcome"] == "defined"
            ids.append(made.json()["id"])
        yield World(client, scheduler_db, access_db, yx, km, admin, *ids)


async def test_definitions_are_validated_and_never_change(world: World) -> None:
    again = await world.client.post(
        "/api/v1/studies", json={"definition": YUXI}, headers=world.admin
    )
    assert again.json()["outcome"] == "unchanged"
    changed = {**YUXI, "follow_up": [{"key": "baseline", "months": 0}]}
    refused = await world.client.post(
        "/api/v1/studies", json={"definition": changed}, headers=world.admin
    )
    assert refused.status_code == 409
    assert "never changes" in refused.json()["detail"]
    wrong = {**YUXI, "arms": [{**YUXI["arms"][0], "receives": {"lessons": "yes"}}, YUXI["arms"][1]]}
    bad = await world.client.post(
        "/api/v1/studies", json={"definition": wrong}, headers=world.admin
    )
    assert bad.status_code == 400
    assert "arms[0].receives.lessons: must be true or false" in bad.json()["detail"]
    by_coordinator = await world.client.post("/api/v1/studies", json={"definition": YUXI})
    assert by_coordinator.status_code == 403
    listed = (await world.client.get("/api/v1/studies")).json()
    assert [s["key"] for s in listed] == ["yuxi-wechat", "mmt-care"]
    assert listed[0]["arms"][1] == {
        "code": "control",
        "titles": YUXI["arms"][1]["titles"],
        "ratio": 1,
        "dose_reminders": False,
        "lessons": False,
        "surveys": False,
        "tracks": None,
        "assessment_reminders": True,
    }
    assert "block_sizes" not in listed[0]


async def test_randomised_once_after_consent_and_baseline_refusals_write_nothing(
    world: World,
) -> None:
    patient = await world.patient("A-1")
    path = f"{patient}/studies/{world.yuxi}"
    body = {"study_id": world.yuxi, "strata": STRATA}
    assert (await world.call(f"{patient}/studies", body)).status_code == 201
    refused = await world.call(f"{path}/randomise")
    assert (refused.status_code, refused.json()["detail"]) == (
        409,
        "no consent recorded: record the signed consent first",
    )
    other_form = await world.call(f"{path}/consent", {**CONSENT, "version": "2026-01"})
    assert other_form.status_code == 409
    assert "'yuxi-v1'" in other_form.json()["detail"]
    assert (await world.call(f"{path}/consent", CONSENT)).status_code == 200
    refused = await world.call(f"{path}/randomise")
    assert refused.status_code == 409
    assert "no baseline" in refused.json()["detail"]
    assert await world.count(AllocationLogEntry) == await world.count(StudyBlock) == 0

    assert (await world.call(f"{path}/baseline", {"on": "2026-12-01"})).status_code == 200
    done = await world.call(f"{path}/randomise")
    assert done.status_code == 200, done.text
    arm = done.json()["arm"]
    assert arm in ("intervention", "control")
    assert set(done.json()) & {"remaining", "block", "stratum"} == set()
    twice = await world.call(f"{path}/randomise")
    assert twice.status_code == 409
    assert "randomised already" in twice.json()["detail"]
    assert await world.count(AllocationLogEntry) == 1

    # The label other services read follows the allocation; staff cannot type it any more.
    shown = await world.client.get(f"/api/v1/patients/{patient}")
    assert shown.json()["study_arm"] == arm
    typed = await world.client.patch(f"/api/v1/patients/{patient}", json={"study_arm": "control"})
    assert typed.status_code == 409
    assert "/studies" in typed.json()["detail"]
    mine = (await world.client.get(f"/api/v1/patients/{patient}/studies")).json()
    assert [(p["study"], p["arm"]) for p in mine] == [("yuxi-wechat", arm)]
    # Audited like every route, naming the patient (a refusal too).
    async with world.access_db.sessions() as session:
        audited = (
            await session.execute(
                select(AuditEntry.resource_type, AuditEntry.resource_id, AuditEntry.status)
                .where(
                    AuditEntry.route == "/api/v1/patients/{patient_id}/studies/{study_id}/randomise"
                )
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [tuple(row) for row in audited] == [
        ("patient", str(patient), s) for s in (409, 409, 200, 409)
    ]


async def test_bad_input_is_refused_with_its_reason(world: World) -> None:
    patient, theirs = await world.patient("A-2"), await world.patient("B-1", world.km)
    enrol = {"study_id": world.yuxi, "consent": CONSENT, "strata": STRATA}
    unknown = await world.call(f"{patient}/studies", {**enrol, "study_id": 999})
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "no study 999"
    strata = await world.call(f"{patient}/studies", {**enrol, "strata": {"sex": "x"}})
    assert strata.status_code == 422
    assert "strata.sex: 'x' is not one of male, female" in strata.json()["detail"]
    assert "strata.age_band: missing" in strata.json()["detail"]
    other_clinic = await world.call(f"{theirs}/studies", enrol)
    assert other_clinic.status_code == 404
    not_in = await world.call(f"{patient}/studies/{world.yuxi}/randomise")
    assert not_in.status_code == 404
    assert "not enrolled" in not_in.json()["detail"]
    await world.ready(patient)
    twice = await world.call(f"{patient}/studies", enrol)
    assert twice.status_code == 409
    assert "already" in twice.json()["detail"]
    by_clinic = await world.call(f"{patient}/studies/{world.care}/randomise")
    assert by_clinic.status_code == 404  # not enrolled in that one

    closed = await world.client.post(f"/api/v1/studies/{world.yuxi}/close", headers=world.admin)
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"
    refused = await world.call(f"{patient}/studies/{world.yuxi}/randomise")
    assert refused.status_code == 409
    assert "is closed" in refused.json()["detail"]
    late = await world.call(f"{await world.patient('A-3')}/studies", enrol)
    assert late.status_code == 409
    assert "is closed" in late.json()["detail"]
    assert await world.count(AllocationLogEntry) == 0


async def test_an_admin_changes_an_arm_with_a_reason_in_the_append_only_log(
    world: World,
) -> None:
    patient = await world.patient("A-4")
    path = f"{patient}/studies/{world.yuxi}"
    await world.ready(patient)
    arm = (await world.call(f"{path}/randomise")).json()["arm"]
    other = "control" if arm == "intervention" else "intervention"
    change = {"arm": other, "reason": "randomised in error: wrong consent form"}
    assert (await world.call(f"{path}/arm", change)).status_code == 403  # a coordinator
    unknown = await world.call(f"{path}/arm", {**change, "arm": "placebo"}, headers=world.admin)
    assert unknown.status_code == 422
    assert "no arm 'placebo'" in unknown.json()["detail"]
    no_reason = await world.call(f"{path}/arm", {"arm": other}, headers=world.admin)
    assert no_reason.status_code == 400
    changed = await world.call(f"{path}/arm", change, headers=world.admin)
    assert changed.status_code == 200
    assert changed.json()["arm"] == other

    log = await world.client.get(f"/api/v1/studies/{world.yuxi}/allocations", headers=world.admin)
    entries = [(e["kind"], e["arm"], e["previous_arm"], e["reason"]) for e in log.json()]
    assert entries == [
        ("randomised", arm, None, None),
        ("changed", other, arm, change["reason"]),
    ]
    assert (await world.client.get(f"/api/v1/studies/{world.yuxi}/allocations")).status_code == 403
    # The database itself refuses to rewrite history.
    for statement in (update(AllocationLogEntry).values(arm="x"), delete(AllocationLogEntry)):
        with pytest.raises(DBAPIError, match="append-only"):
            async with world.db.transaction() as session:
                await session.execute(statement)
    assert await world.count(AllocationLogEntry) == 2


async def test_the_block_state_is_never_exposed(world: World) -> None:
    schema = (await world.client.get("/schema/openapi.json")).json()
    studies = {p: route for p, route in schema["paths"].items() if "/studies" in p}
    assert len(studies) >= 8
    shapes = {
        name: shape
        for name, shape in schema["components"]["schemas"].items()
        if name.startswith(("Study", "Participant", "Arm", "ClinicArm", "Allocation", "Cluster"))
    }
    assert {"StudyOut", "ParticipantOut", "AllocationOut"} <= set(shapes)
    words = f"{studies} {shapes}".lower()
    assert "remaining" not in words
    assert "block" not in words
    patient = await world.patient("A-5")
    await world.ready(patient)
    answers = [
        await world.call(f"{patient}/studies/{world.yuxi}/randomise"),
        await world.client.get(f"/api/v1/studies/{world.yuxi}"),
        await world.client.get(f"/api/v1/studies/{world.yuxi}/participants"),
        await world.client.get(f"/api/v1/studies/{world.yuxi}/allocations", headers=world.admin),
    ]
    for answer in answers:
        assert answer.status_code == 200
        assert "remaining" not in answer.text


async def test_two_randomisations_in_one_stratum_at_once_never_share_a_place(
    world: World,
) -> None:
    patients = [await world.patient(f"C-{n}") for n in range(12)]
    for patient in patients:
        await world.ready(patient)
    # Called as the service, each in its own transaction, so that they interleave at every
    # round trip to the database (the test client would take requests one at a time).
    ctx = context(world.db, world.access_db)
    answers = await asyncio.gather(
        *(randomise.randomise(ctx, ADMIN, p, world.yuxi) for p in patients)
    )
    arms = [str(a.arm) for a in answers]
    async with world.db.sessions() as session:
        [block] = (await session.execute(select(StudyBlock))).scalars()
    # Every block is balanced: allocated + places left is the same for both arms, which a
    # lost update (two draws from one state) would break.
    totals = {
        arm: arms.count(arm) + block.remaining.get(arm, 0) for arm in ("intervention", "control")
    }
    assert totals["intervention"] == totals["control"]
    assert abs(arms.count("intervention") - arms.count("control")) <= 3


async def test_clinics_are_randomised_once_and_patients_take_their_clinics_arm(
    world: World,
) -> None:
    early = await world.patient("A-6")
    enrol = {"study_id": world.care, "consent": {**CONSENT, "version": "mmt-care-v1"}}
    before = await world.call(f"{early}/studies", enrol)
    assert before.status_code == 201
    assert before.json()["arm"] is None
    clinics = {"clinics": [{"clinic_id": world.yx}, {"clinic_id": world.km}]}
    path = f"/api/v1/studies/{world.care}/clinics"
    assert (await world.client.post(path, json=clinics)).status_code == 403
    wrong = await world.client.post(
        f"/api/v1/studies/{world.yuxi}/clinics", json=clinics, headers=world.admin
    )
    assert wrong.status_code == 409
    assert "randomises patients" in wrong.json()["detail"]
    made = await world.client.post(path, json=clinics, headers=world.admin)
    assert made.status_code == 201, made.text
    arms = {c["clinic_id"]: c["arm"] for c in made.json()}
    assert sorted(arms.values()) == ["control", "intervention"]
    again = await world.client.post(path, json=clinics, headers=world.admin)
    assert again.status_code == 409
    assert "randomised already" in again.json()["detail"]

    mine = (await world.client.get(f"/api/v1/patients/{early}/studies")).json()
    assert mine[0]["arm"] == arms[world.yx]  # enrolled before: took the arm when drawn
    later = await world.patient("B-2", world.km)
    taken = await world.call(f"{later}/studies", enrol, headers=world.admin)
    assert taken.json()["arm"] == arms[world.km]
    refused = await world.call(f"{later}/studies/{world.care}/randomise", headers=world.admin)
    assert refused.status_code == 409
    assert "randomised already" in refused.json()["detail"]
    elsewhere = await world.patient("Z-1", await clinic(world.access_db, "ZT"))
    left_out = await world.call(f"{elsewhere}/studies", enrol, headers=world.admin)
    assert left_out.status_code == 409
    assert "not one of study 'mmt-care''s clinics" in left_out.json()["detail"]
    # A coordinator lists their own clinic's participants only.
    listed = (await world.client.get(f"/api/v1/studies/{world.care}/participants")).json()
    assert [p["patient_id"] for p in listed] == [early]


async def test_loss_to_follow_up_is_recorded_once_with_its_reason(world: World) -> None:
    patient = await world.patient("A-7")
    await world.ready(patient)
    path = f"{patient}/studies/{world.yuxi}/lost"
    today = datetime.now(UTC).date().isoformat()
    odd = await world.call(path, {"reason": "bored", "on": today})
    assert odd.status_code == 400
    early = await world.call(path, {"reason": "moved", "on": "2026-01-01"})
    assert early.status_code == 400
    assert "before the patient was enrolled" in early.json()["detail"]
    lost = await world.call(path, {"reason": "compulsory_detoxification", "on": today})
    assert lost.status_code == 200
    assert (lost.json()["lost_reason"], lost.json()["lost_on"]) == (
        "compulsory_detoxification",
        today,
    )
    again = await world.call(path, {"reason": "moved", "on": today})
    assert again.status_code == 409
    assert "lost already" in again.json()["detail"]
