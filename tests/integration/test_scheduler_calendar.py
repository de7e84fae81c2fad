"""GET /api/v1/patients/{id}/calendar: a month day by day from the patient's state history
(written with every enrolment, pause, resume, automatic resume and discharge) and doses;
clinic-scoped, audited, and a bad month is a 400 naming the parameter."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from mmt.registry import load_service
from services.scheduler import patients
from services.scheduler.models import Dose, Patient, PatientStateChange
from services.scheduler.planner import resume_due
from services.scheduler.schemas import PauseIn
from services.scheduler.timeplan import local_instant, local_today
from shared.access.audit import AuditFilter, query_audit
from shared.db import Database
from shared.migrate import _config, migrate
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.schedutil import ADMIN, clinic, context, enrol

pytestmark = pytest.mark.usefixtures("secrets_env")
ZONE = "Asia/Shanghai"


async def _states(db: Database, patient_id: int) -> list[str]:
    async with db.sessions() as session:
        rows = await session.execute(
            select(PatientStateChange.state)
            .where(PatientStateChange.patient_id == patient_id)
            .order_by(PatientStateChange.id)
        )
        return list(rows.scalars())


async def test_every_change_of_state_is_kept_once(
    scheduler_db: Database, access_db: Database
) -> None:
    ctx = context(scheduler_db, access_db)
    yx = await clinic(access_db)
    p = await enrol(ctx, yx, "0001")
    tomorrow = local_today(datetime.now(UTC), ZONE) + timedelta(days=1)
    await patients.pause(ctx, ADMIN, p.id, PauseIn(reason="detox", resume_on=tomorrow))
    # A second pause (a new date) continues the same period: no new row.
    await patients.pause(
        ctx, ADMIN, p.id, PauseIn(reason="detox", resume_on=tomorrow + timedelta(days=1))
    )
    assert await _states(scheduler_db, p.id) == ["active", "paused"]
    assert await resume_due(scheduler_db, datetime.now(UTC) + timedelta(days=3)) == 1
    await patients.discharge(ctx, ADMIN, p.id)
    assert await _states(scheduler_db, p.id) == ["active", "paused", "active", "discharged"]


def _back_to_0004(connection: Connection, schema: str | None) -> None:
    from alembic import command

    migrations = load_service("scheduler").migrations
    command.downgrade(_config(migrations, connection, schema), "scheduler_0004")


async def test_the_migration_gives_patients_enrolled_before_it_what_is_known(
    scheduler_db: Database, access_db: Database
) -> None:
    ctx = context(scheduler_db, access_db)
    yx = await clinic(access_db)
    staying = await enrol(ctx, yx, "0011")
    away = await enrol(ctx, yx, "0012")
    await patients.pause(ctx, ADMIN, away.id, PauseIn(reason="detox"))
    async with scheduler_db.engine.begin() as conn:
        await conn.run_sync(_back_to_0004, scheduler_db.schema)
    await migrate(scheduler_db, load_service("scheduler").migrations)
    assert await _states(scheduler_db, staying.id) == ["active"]
    assert await _states(scheduler_db, away.id) == ["active", "paused"]
    async with scheduler_db.sessions() as session:
        row = await session.get(Patient, away.id)
        assert row is not None
        times = (
            await session.execute(
                select(PatientStateChange.at)
                .where(PatientStateChange.patient_id == away.id)
                .order_by(PatientStateChange.id)
            )
        ).scalars()
        assert list(times) == [row.enrolled_at, row.updated_at]


async def test_a_month_of_doses_misses_and_a_pause_over_http(
    scheduler_db: Database,
    access_db: Database,
    app_settings: Settings,
    make_token: TokenFactory,
) -> None:
    ctx = context(scheduler_db, access_db)
    yx = await clinic(access_db, "YX")
    await clinic(access_db, "KM")
    p = await enrol(ctx, yx, "0002")
    # A history in last month: enrolled on the 2nd, dosed on the 3rd, away the 5th-7th.
    first = local_today(datetime.now(UTC), ZONE).replace(day=1) - timedelta(days=1)
    first = first.replace(day=1)

    def local(day: int, hour: int) -> datetime:
        return local_instant(first.replace(day=day), time(hour), ZONE)

    async with scheduler_db.transaction() as session:
        await session.execute(
            update(Patient).where(Patient.id == p.id).values(enrolled_at=local(2, 9))
        )
        await session.execute(
            update(PatientStateChange)
            .where(PatientStateChange.patient_id == p.id)
            .values(at=local(2, 9))
        )
        session.add_all(
            [
                PatientStateChange(patient_id=p.id, state="paused", at=local(5, 10)),
                PatientStateChange(patient_id=p.id, state="active", at=local(7, 20)),
                Dose(
                    patient_id=p.id,
                    local_date=first.replace(day=3),
                    taken_at=local(3, 8),
                    mg=60,
                    recorded_at=local(3, 8),
                ),
            ]
        )
    coordinator = await make_token("coordinator", clinics=["YX"])
    stranger = await make_token("coordinator", clinics=["KM"])
    path = f"/api/v1/patients/{p.id}/calendar"
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        mine = {"Authorization": f"Bearer {coordinator}"}
        month = await client.get(path, params={"month": first.strftime("%Y-%m")}, headers=mine)
        assert month.status_code == 200, month.text
        body = month.json()
        states = [d["state"] for d in body["days"]]
        assert states[:8] == [
            "not_enrolled",
            "missed",
            "dosed",
            "missed",
            "paused",
            "paused",
            "paused",
            "missed",
        ]
        assert body["days"][2]["mg"] == 60
        assert body["counts"]["dosed"] == 1
        assert body["counts"]["paused"] == 3
        assert body["month"] == first.strftime("%Y-%m")
        assert len(body["days"]) == body["counts"]["missed"] + 5  # 1 before, 1 dose, 3 away

        now = await client.get(path, headers=mine)  # this month, by default
        today = date.fromisoformat(now.json()["today"])
        assert now.json()["month"] == today.strftime("%Y-%m")
        assert now.json()["days"][today.day - 1]["state"] == "due"

        for bad in ("2026-13", "2026-1", "nov", "1899-12"):
            refused = await client.get(path, params={"month": bad}, headers=mine)
            assert refused.status_code == 400, bad
            assert refused.json()["extra"][0]["key"] == "month"
        other = await client.get(path, headers={"Authorization": f"Bearer {stranger}"})
        assert other.status_code == 404
        assert "paused" not in other.text  # nothing of the patient (existence not revealed)
    logged = await query_audit(access_db, AuditFilter(resource_type="patient", limit=100))
    calendar_reads = [e for e in logged if e.route == "/api/v1/patients/{patient_id}/calendar"]
    assert {e.status for e in calendar_reads} >= {200, 400, 404}
    assert all(e.resource_id == str(p.id) for e in calendar_reads)
