"""On SQLite (`make run`), as on PostgreSQL, the allocation log refuses to change history:
migration scheduler_0012's triggers refuse UPDATE and DELETE."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from mmt.registry import load_service
from services.scheduler.studies.models import AllocationLogEntry, Study
from shared.db import Database
from shared.migrate import migrate


async def test_the_allocation_log_is_append_only_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'scheduler.db'}", "scheduler")
    try:
        await migrate(db, load_service("scheduler").migrations)
        now = datetime.now(UTC)
        async with db.transaction() as session:
            study = Study(
                key="trial",
                unit="patient",
                consent_version="v1",
                status="open",
                definition={},
                defined_by="test",
                defined_at=now,
            )
            session.add(study)
            await session.flush()
            entry = AllocationLogEntry(
                study_id=study.id, kind="randomised", arm="control", by="test", at=now
            )
            session.add(entry)
        for statement in (
            update(AllocationLogEntry).values(arm="intervention"),
            delete(AllocationLogEntry),
        ):
            with pytest.raises(IntegrityError, match="append-only"):
                async with db.transaction() as session:
                    await session.execute(statement)
        async with db.sessions() as session:
            kept = await session.get(AllocationLogEntry, entry.id)
        assert kept is not None
        assert kept.arm == "control"
    finally:
        await db.dispose()
