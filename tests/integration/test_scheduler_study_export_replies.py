"""A study's analysis file, continued: replies other than ratings counted per time point
from the scheduler's read model of `ReplyReceived` (a redelivered event counted once); the
data dictionary without a row of data (strata with their declared values); and the grouped
export giving the same file on SQLite as on PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from mmt.bench.study_export import ADMIN, TODAY, seed_into
from mmt.registry import load_service
from services.scheduler.patients import Scheduler
from services.scheduler.replies import PatientReply, record_reply
from services.scheduler.studies import export
from shared.db import Database
from shared.messages import ReplyReceived
from shared.migrate import migrate
from tests.integration.test_scheduler_studies import World
from tests.integration.test_scheduler_studies import world as world  # the fixture
from tests.integration.test_scheduler_study_export import BASELINE
from tests.integration.test_scheduler_study_export import seeded as seeded  # the fixture


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_replies_are_counted_per_time_point_once(
    world: World, seeded: tuple[int, int]
) -> None:
    first, _second = seeded
    day = datetime.combine(BASELINE, datetime.min.time(), UTC)
    sent = [
        ReplyReceived(
            patient_id=first, clinic_id=world.yx, reply_kind="need", at=day - timedelta(3)
        ),
        ReplyReceived(
            patient_id=first, clinic_id=world.yx, reply_kind="help", at=day + timedelta(4)
        ),
        ReplyReceived(
            patient_id=first, clinic_id=world.yx, reply_kind="survey_answer", at=day + timedelta(50)
        ),
        ReplyReceived(
            patient_id=999_999, clinic_id=world.yx, reply_kind="other", at=day
        ),  # unknown
    ]
    for event in sent:
        for _ in range(2):  # the bus delivers at least once: a redelivery adds nothing
            async with world.db.transaction() as session:
                await record_reply(event, session)
    async with world.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(PatientReply)) == 3

    answer = await world.client.get(f"/api/v1/studies/{world.yuxi}/export", headers=world.admin)
    assert answer.status_code == 200, answer.text
    rows = {(r["participant"], r["time_point"]): r for r in _rows(answer.text)}
    assert rows[(str(first), "baseline")]["replies"] == "1"
    assert rows[(str(first), "month-3")]["replies"] == "2"
    assert {r["replies"] for (p, _), r in rows.items() if p != str(first)} == {"0"}
    dictionary = await world.client.get(
        f"/api/v1/studies/{world.yuxi}/dictionary", headers=world.admin
    )
    variables = {r["variable"]: r for r in _rows(dictionary.text)}
    assert list(variables) == list(_rows(answer.text)[0])  # every column, in order
    assert variables["replies"]["type"] == "integer"
    assert variables["replies"]["label_zh_CN"] == "回复次数"


async def test_the_dictionary_needs_no_data(world: World) -> None:
    """No one randomised yet: the dictionary names the columns the file will have, the
    strata with the values the study declares."""
    dictionary = await world.client.get(
        f"/api/v1/studies/{world.yuxi}/dictionary", headers=world.admin
    )
    assert dictionary.status_code == 200, dictionary.text
    variables = {r["variable"]: r for r in _rows(dictionary.text)}
    assert list(variables)[:7] == [
        "study",
        "participant",
        "clinic_id",
        "arm",
        "stratum_clinic",
        "stratum_sex",
        "stratum_age_band",
    ]
    assert variables["stratum_sex"]["allowed_values"] == "male, female"
    age = variables["stratum_age_band"]
    assert (age["allowed_values"], age["unit"]) == ("18-39, 40-49, 50+", "years")
    assert variables["stratum_clinic"]["allowed_values"] == ""
    assert {"replies", "ratings", "retained"} <= set(variables)
    empty = await world.client.get(f"/api/v1/studies/{world.yuxi}/export", headers=world.admin)
    assert empty.text.splitlines() == [",".join(variables)]  # the header, no row
    missing = await world.client.get("/api/v1/studies/999/dictionary", headers=world.admin)
    assert missing.status_code == 404


async def _exported(db: Database) -> str:
    study_id = await seed_into(db, 12)
    ctx = Scheduler(db, db, None)
    header, rows, _ = await export.export_rows(ctx, ADMIN, study_id, today=TODAY)
    assert header == [v.name for v in await export.dictionary(ctx, ADMIN, study_id)]
    assert len(rows) == 12 * 3  # baseline, month 3 and month 6 reached
    return export.to_csv(header, rows)


async def test_the_grouped_export_is_the_same_on_sqlite(
    scheduler_db: Database, tmp_path: Path
) -> None:
    on_postgres = await _exported(scheduler_db)
    lite = Database(f"sqlite+aiosqlite:///{tmp_path / 'scheduler.db'}", "scheduler")
    try:
        await migrate(lite, load_service("scheduler").migrations)
        on_sqlite = await _exported(lite)
    finally:
        await lite.dispose()
    assert on_sqlite == on_postgres
    rows = _rows(on_postgres)
    assert {r["time_point"] for r in rows} == {"baseline", "month-3", "month-6"}
    assert all(int(r["days_dosed"]) <= int(r["days_expected"]) for r in rows)
    assert sum(int(r["replies"]) for r in rows) > 0
    assert sum(int(r["lessons_sent"]) for r in rows) > 0
    assert {r["motivation.readiness"] for r in rows} == {""}
