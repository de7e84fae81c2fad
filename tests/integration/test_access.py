"""Coordinator access on every route of every service, generated from the route lists.

A new route cannot skip these: the apps refuse to start without a policy on each route,
and the tests below walk every route and method each app actually serves.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError

from mmt.registry import load_service
from services.scheduler.assessment_models import AssessmentDue
from services.scheduler.mi.models import MiSession
from services.scheduler.models import Alert, Patient
from services.scheduler.tasks.signals import raise_signal
from shared.access.clinics import ClinicIn, create_clinic
from shared.access.models import ApiToken, AuditEntry
from shared.access.tokens import Role, revoke_token
from shared.access.web import check_policies
from shared.db import Database
from shared.migrate import migrate
from shared.settings import SERVICES, Settings
from tests.conftest import Backends, TokenFactory, build_service_app


@dataclass
class World:
    clinic_a: int
    clinic_b: int
    tokens: dict[str, str]  # role -> token; "coordinator" is clinic A's


@pytest.fixture
async def world(access_db: Database, make_token: TokenFactory) -> World:
    a = await create_clinic(
        access_db, ClinicIn(code="YX-A", name="Yuxi A", help_phone="+86 877 2012345")
    )
    b = await create_clinic(
        access_db, ClinicIn(code="KM-B", name="Kunming B secret", help_phone="0871-65123456")
    )
    tokens = {
        "admin": await make_token("admin"),
        "coordinator": await make_token("coordinator", ["YX-A"]),
        "researcher": await make_token("researcher"),
        "content-editor": await make_token("content-editor"),
    }
    return World(a.id, b.id, tokens)


@pytest.fixture
async def services(backends: Backends, isolation: str) -> AsyncIterator[None]:
    dbs = [Database(backends.database_url, n, schema_prefix=isolation) for n in SERVICES]
    for db in dbs:
        await migrate(db, load_service(db.service).migrations)
    yield
    for db in dbs:
        await db.drop_schema()
        await db.dispose()


@pytest.fixture
async def clinic_b_records(
    world: World, services: None, backends: Backends, isolation: str
) -> dict[str, str]:
    """Scheduler records belonging to clinic B, for the scope checks."""
    db = Database(backends.database_url, "scheduler", schema_prefix=isolation)
    now = datetime.now(UTC)
    async with db.transaction() as session:
        patient = Patient(
            clinic_id=world.clinic_b,
            clinic_number="KM-0001",
            display_name="Kunming Patient",
            channel_order=["sms"],
            language="zh-CN",
            time_zone="Asia/Shanghai",
            dose_time=time(7, 30),
            quiet_start=time(22),
            quiet_end=time(7),
            state="active",
            consent_version="v1",
            consent_at=now,
            consent_recorded_by="seed",
            enrolled_at=now,
            updated_at=now,
        )
        session.add(patient)
        await session.flush()
        alert = Alert(
            patient_id=patient.id,
            clinic_id=world.clinic_b,
            kind="dropout_risk",
            raised_on=now.date(),
            details={"missed_days": 3},
            state="open",
        )
        session.add(alert)
        # A time point of clinic B's patient's plan, done: a link to it is refused (409)
        # even for the admin, who may reach it, and coordinator A must not see it at all.
        due = AssessmentDue(
            patient_id=patient.id,
            clinic_id=world.clinic_b,
            instrument_code="hiv-knowledge",
            time_point="baseline",
            due_on=now.date(),
            reader=str(uuid.uuid4()),
            assessment_id=1,
            created_by="seed",
            created_at=now,
        )
        session.add(due)
        await session.flush()
        task_id = await raise_signal(  # a follow-up task of clinic B's patient
            session,
            kind="open_need",
            clinic_id=world.clinic_b,
            patient_id=patient.id,
            signal_key="need:1",
            signalled_at=now,
        )
        mi = MiSession(  # an MI session with clinic B's patient
            patient_id=patient.id,
            clinic_id=world.clinic_b,
            held_on=now.date(),
            provider_staff_id=1,
            provider_name="Kunming Provider (km)",
            minutes=20,
            topic="drug_use",
            importance=5,
            confidence=5,
            author="seed",
            created_at=now,
        )
        session.add(mi)
        await session.flush()
        ids = {"patient_id": str(patient.id), "alert_id": str(alert.id), "due_id": str(due.id)}
        ids["task_id"] = str(task_id)
        ids["session_id"] = str(mi.id)
    await db.dispose()
    return ids


def _routes(app: Litestar) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path template, opt) of every API route the app serves."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/schema"):
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                found.append((method, route.path, dict(handler.opt)))
    return found


def _fill(path: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise AssertionError(
                f"add a clinic-B value for path parameter {name!r} to "
                "test_access.py so its scope is tested"
            )
        return values[name]

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, path)


@pytest.mark.parametrize("service", SERVICES)
async def test_every_route_refuses_strangers_and_wrong_roles(
    service: str,
    world: World,
    services: None,
    app_settings: Settings,
    clinic_b_records: dict[str, str],
) -> None:
    app = build_service_app(service, app_settings)
    clinic_b = {
        "clinic_id": str(world.clinic_b),
        "probe_id": str(uuid.uuid4()),
        **clinic_b_records,
        # Content routes are not clinic-scoped: any track, version, module, lesson will do.
        "track": "core",
        "version": "1",
        "module": "basics",
        "key": "daily-dose",
        "token": "not-a-signed-link",
        # Feedback: no need exists in this test, so every role gets 404 on it; the scope of
        # real needs is tested in test_feedback_needs.py.
        "need_id": "1",
        "survey_key": "yuxi_evaluation",
        # Scheduler: a special day of clinic B's calendar (the clinic id carries the scope).
        "day": "2026-12-25",
        # Studies span clinics: a patient's study routes take their scope from the patient.
        "study_id": "1",
        # Interview choices are admins' only: every other role is refused before the id.
        "selection_id": "1",
        # A questionnaire's scope is the clinic_id it is asked with (a query parameter).
        "code": "methadone-knowledge",
        # Staff training: a quiz round is the signed-in person's own (these tokens name no one).
        "round": "baseline",
    }
    checked = 0
    async with AsyncTestClient(app=app) as client:
        for method, template, opt in _routes(app):
            path = _fill(template, clinic_b)
            if opt.get("open"):
                response = await client.request(method, path)
                # Open routes ask for no token; pages behind signed links refuse a made-up one.
                if "{token" in template:
                    assert response.status_code == 404, path
                elif template.startswith("/webhooks/"):
                    # Providers authenticate by signature: an unsigned call changes nothing.
                    assert response.status_code in (400, 403, 404), path
                else:
                    assert response.status_code < 400, path
                continue
            checked += 1
            anonymous = await client.request(method, path)
            assert anonymous.status_code == 401, f"{method} {path} without a token"
            assert anonymous.headers["www-authenticate"] == "Bearer"
            assert "missing bearer token" in anonymous.json()["detail"]
            statuses: dict[str, int] = {}
            for role, token in world.tokens.items():  # admin first
                response = await client.request(
                    method, path, json={}, headers={"Authorization": f"Bearer {token}"}
                )
                statuses[role] = response.status_code
                assert response.status_code < 500, f"{role} on {method} {path}: {response.text}"
                if Role(role) not in opt["roles"]:
                    assert response.status_code == 403, f"{role} on {method} {path}"
                    assert f"role {role} may not use this route" in response.json()["detail"]
                elif opt.get("person"):  # about the signed-in person: these tokens name no one
                    # (400: the empty body is refused before the route looks at the person)
                    assert response.status_code in (400, 403), f"{role} on {method} {path}"
                    if response.status_code == 403:
                        assert "sign in to the console" in response.json()["detail"]
                else:
                    assert response.status_code not in (401, 403), f"{role} on {method} {path}"
                # Coordinator A never sees clinic B's data, whatever the route answers.
                if role == "coordinator":
                    assert "KM-B" not in response.text
                    assert "Kunming" not in response.text
                    scoped = any(f"{{{name}" in template for name in clinic_b_records) or (
                        "{clinic_id" in template
                    )
                    # 400 only where the body itself is refused (the admin gets 400 too).
                    body_refused = response.status_code == 400 and statuses["admin"] == 400
                    if scoped and not body_refused:
                        assert response.status_code in (403, 404), f"{method} {path}"
    assert checked > 0 or service != "scheduler"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer nonsense", "malformed token"),
        ("Basic dXNlcjpwYXNz", "use the Bearer scheme"),
        ("Bearer mmt_0123456789ab_" + "A" * 43, "unknown token"),
    ],
)
async def test_bad_tokens_get_401_with_a_reason(
    header: str,
    reason: str,
    world: World,
    services: None,
    app_settings: Settings,
) -> None:
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        response = await client.get("/api/v1/clinics", headers={"Authorization": header})
    assert response.status_code == 401
    assert reason in response.json()["detail"]


async def test_expired_and_revoked_tokens_are_refused(
    world: World,
    services: None,
    app_settings: Settings,
    access_db: Database,
    make_token: TokenFactory,
) -> None:
    token = await make_token("admin")
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/v1/clinics", headers=headers)).status_code == 200
        await revoke_token(access_db, token.split("_")[1])
        revoked = await client.get("/api/v1/clinics", headers=headers)
        assert revoked.status_code == 401
        assert revoked.json()["detail"] == "token revoked"

        async with access_db.transaction() as session:
            past = datetime(2020, 1, 1, tzinfo=UTC)
            await session.execute(update(ApiToken).values(expires_at=past))
        expired = await client.get(
            "/api/v1/clinics", headers={"Authorization": f"Bearer {world.tokens['admin']}"}
        )
        assert expired.status_code == 401
        assert expired.json()["detail"] == "token expired"


async def test_clinics_are_scoped_validated_and_never_half_written(
    world: World,
    services: None,
    app_settings: Settings,
) -> None:
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    coordinator = {"Authorization": f"Bearer {world.tokens['coordinator']}"}
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        created = await client.post(
            "/api/v1/clinics",
            headers=admin,
            json={
                "code": "QJ-C",
                "name": "Qujing",
                "time_zone": "Asia/Shanghai",
                "help_phone": "0874 3123456",
                "opens_at": "06:30",
                "closes_at": "18:00",
            },
        )
        assert created.status_code == 201
        assert created.json()["help_phone"] == "+868743123456"

        duplicate = await client.post(
            "/api/v1/clinics",
            headers=admin,
            json={"code": "QJ-C", "name": "again", "help_phone": "0874 3123456"},
        )
        assert duplicate.status_code == 409
        for body, reason in [
            (
                {"code": "X1", "name": "x", "help_phone": "0874 3123456", "time_zone": "Mars/Base"},
                "unknown time zone 'Mars/Base'",
            ),
            ({"code": "X2", "name": "x", "help_phone": "12"}, "help_phone"),
            (
                {"code": "X3", "name": "x", "help_phone": "0874 3123456", "opens_at": "25:00"},
                "opens_at must be HH:MM",
            ),
            ({"code": "X4", "name": "x", "help_phone": "0874 3123456", "colour": "red"}, "colour"),
        ]:
            refused = await client.post("/api/v1/clinics", headers=admin, json=body)
            assert refused.status_code == 400, body
            assert reason in str(refused.json()), body

        mine = await client.get("/api/v1/clinics", headers=coordinator)
        assert [c["code"] for c in mine.json()] == ["YX-A"]
        everyone = await client.get("/api/v1/clinics", headers=admin)
        assert [c["code"] for c in everyone.json()] == ["KM-B", "QJ-C", "YX-A"]

        # Closing before opening is refused and the name change with it is not kept.
        path = f"/api/v1/clinics/{world.clinic_a}"
        bad = await client.patch(path, headers=admin, json={"name": "New", "closes_at": "05:00"})
        assert bad.status_code == 400
        assert (await client.get(path, headers=admin)).json()["name"] == "Yuxi A"


async def test_every_authenticated_request_is_audited_without_health_data(
    world: World,
    services: None,
    app_settings: Settings,
    access_db: Database,
) -> None:
    coordinator = {"Authorization": f"Bearer {world.tokens['coordinator']}"}
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        assert (
            await client.get(f"/api/v1/clinics/{world.clinic_a}", headers=coordinator)
        ).status_code == 200
        assert (
            await client.get(f"/api/v1/clinics/{world.clinic_b}", headers=coordinator)
        ).status_code == 404
        entries = (
            await client.get(
                "/api/v1/audit",
                headers=admin,
                params={"token_id": world.tokens["coordinator"].split("_")[1]},
            )
        ).json()
        later = (
            await client.get("/api/v1/audit", headers=admin, params={"resource_type": "audit"})
        ).json()
    assert [(e["route"], e["status"], e["clinic_id"], e["action"]) for e in entries] == [
        ("/api/v1/clinics/{clinic_id}", 404, world.clinic_b, "read"),
        ("/api/v1/clinics/{clinic_id}", 200, world.clinic_a, "read"),
    ]
    assert all(e["service"] == "scheduler" and e["role"] == "coordinator" for e in entries)
    assert later[0]["route"] == "/api/v1/audit"  # reading the audit is audited too

    # Append-only, enforced by the database itself.
    with pytest.raises(DBAPIError, match="append-only"):
        async with access_db.transaction() as session:
            await session.execute(update(AuditEntry).values(status=200))
    with pytest.raises(DBAPIError, match="append-only"):
        async with access_db.transaction() as session:
            await session.execute(delete(AuditEntry))


def test_an_app_with_an_unguarded_route_refuses_to_start() -> None:
    @get("/forgotten", sync_to_thread=False)
    def forgotten() -> str:
        return "data"

    with pytest.raises(RuntimeError, match="routes without an access policy: GET /forgotten"):
        check_policies(Litestar(route_handlers=[forgotten]))
