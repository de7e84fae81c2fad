"""`mmt mi report|list` in-process against the test's schemas: a clinic's figures and a
patient's target and sessions (never the plan); a wrong clinic, patient or date exits 2."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from mmt import app as mmt
from services.scheduler.mi.models import MiSession
from services.scheduler.mi.schemas import ClinicTargetIn
from services.scheduler.mi.targets import set_clinic_target
from services.scheduler.timeplan import local_today
from shared.db import Database
from tests.integration.schedutil import ADMIN, clinic, context, enrol


@pytest.fixture
async def patient(scheduler_db: Database, access_db: Database, secrets_env: object) -> int:
    ctx = context(scheduler_db, access_db)
    yx = await clinic(access_db, "YX")
    await set_clinic_target(ctx, ADMIN, yx, ClinicTargetIn(sessions=2, within_days=60))
    made = await enrol(ctx, yx, "YX-0001")
    now = datetime.now(UTC)
    async with scheduler_db.transaction() as session:
        session.add(
            MiSession(
                patient_id=made.id,
                clinic_id=yx,
                held_on=local_today(now, "Asia/Shanghai"),
                provider_staff_id=7,
                provider_name="Li (li.na)",
                minutes=25,
                topic="family",
                importance=8,
                confidence=3,
                plan="Visit his mother on Sunday",
                author="test",
                created_at=now,
            )
        )
    return made.id


@pytest.mark.usefixtures("database_env")
def test_report_and_list_and_refusals(patient: int) -> None:
    runner = CliRunner()
    assert runner.invoke(mmt, ["mi", "--help"]).exit_code == 0
    listed = runner.invoke(mmt, ["mi", "list", str(patient)])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].startswith(f"patient {patient}: 1 of 2 (the clinic's, ")
    assert "): on_track, session 2 due by " in lines[0]
    assert lines[1].endswith("Li (li.na): 25 min, family, importance 8, confidence 3")
    assert "Visit his mother" not in listed.output  # the plan is health data

    reported = runner.invoke(mmt, ["mi", "report", "YX"])
    assert reported.exit_code == 0, reported.output
    assert ": 1 on_track" in reported.output.splitlines()[0]
    assert "arm clinic: 1 clients, 1 sessions, 0 met (0%), mean 25.0 min" in reported.output
    assert "provider Li (li.na): 1 clients" in reported.output
    later = (datetime.now(UTC) + timedelta(days=90)).date().isoformat()
    missed = runner.invoke(mmt, ["mi", "report", "YX", "--on", later])
    assert ": 1 missed" in missed.output

    for command, message in (
        (["mi", "report", "ZZ"], "unknown clinic(s): ZZ"),
        (["mi", "list", "424242"], "no patient 424242"),
        (["mi", "list", str(patient), "--on", "soon"], "--on must be a date"),
    ):
        refused = runner.invoke(mmt, command)
        assert refused.exit_code == 2, (command, refused.output)
        assert message in refused.output
