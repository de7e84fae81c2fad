"""A clinic's week of warning signs (GET /api/v1/clinics/{id}/signals): missed days since
enrolment, failed against reached messages, opted out, counted in SQL and matching the
rows stored; clinic scope, the window's bounds, and the call audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from mmt.bench.console_history import seed_console_history
from services.scheduler.models import Dose, Message, Patient
from shared.access.audit import AuditFilter, query_audit
from shared.db import Database
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.schedutil import clinic, context, enrol

ZONE = ZoneInfo("Asia/Shanghai")


async def test_signals_count_the_stored_week_per_patient_within_the_clinic(
    app_settings: Settings, scheduler_db: Database, access_db: Database, make_token: TokenFactory
) -> None:
    yx, km = await clinic(access_db, "YX"), await clinic(access_db, "KM")
    ctx = context(scheduler_db, access_db)
    old = await enrol(ctx, yx, "YX-0001")
    new = await enrol(ctx, yx, "YX-0002")
    await enrol(ctx, km, "KM-0001")
    now = datetime.now(UTC)
    yesterday = now.astimezone(ZONE).date() - timedelta(days=1)
    async with scheduler_db.transaction() as session:
        await session.execute(
            update(Patient).where(Patient.id == old.id).values(enrolled_at=now - timedelta(days=20))
        )
        await session.execute(
            update(Patient)
            .where(Patient.id == new.id)
            .values(enrolled_at=now - timedelta(days=2), opted_out_at=now)
        )
    await seed_console_history(scheduler_db, yx, yesterday - timedelta(days=9), yesterday)
    coordinator = {"Authorization": f"Bearer {await make_token('coordinator', ['YX'])}"}
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as api:
        answer = await api.get(f"/api/v1/clinics/{yx}/signals?days=7", headers=coordinator)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["last_day"] == yesterday.isoformat()
        assert body["first_day"] == (yesterday - timedelta(days=6)).isoformat()
        by_id = {p["patient_id"]: p for p in body["patients"]}
        assert set(by_id) == {old.id, new.id}  # KM's patient is not in YX's week
        assert by_id[old.id]["days"] == 7
        assert by_id[new.id]["days"] == 2  # enrolled two days ago: two days counted
        assert (by_id[old.id]["opted_out"], by_id[new.id]["opted_out"]) == (False, True)
        first = yesterday - timedelta(days=6)
        async with scheduler_db.sessions() as session:
            dosed = await session.scalar(
                select(func.count()).where(
                    Dose.patient_id == old.id, Dose.local_date.between(first, yesterday)
                )
            )
            failed = await session.scalar(
                select(func.count()).where(
                    Message.patient_id == old.id,
                    Message.state == "failed",
                    Message.local_date.between(first, yesterday),
                )
            )
        assert by_id[old.id]["missed_days"] == 7 - dosed
        assert by_id[old.id]["failed_messages"] == failed

        assert (
            await api.get(f"/api/v1/clinics/{km}/signals", headers=coordinator)
        ).status_code == 404
        for days in ("0", "32", "week"):
            path = f"/api/v1/clinics/{yx}/signals?days={days}"
            refused = await api.get(path, headers=coordinator)
            assert refused.status_code == 400, days
    entries = await query_audit(access_db, AuditFilter(clinic_id=yx, limit=100))
    assert "/api/v1/clinics/{clinic_id}/signals" in {e.route for e in entries}
