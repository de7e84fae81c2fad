"""The audit log's group commit: concurrent requests' entries share transactions, each
request returns only once its entry is stored, and a failed commit fails every entry in it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, select

from shared.access.audit_writer import AuditWriter
from shared.access.models import AuditEntry
from shared.db import Database


def _entry(n: int) -> dict[str, Any]:
    return {
        "at": datetime.now(UTC),
        "service": "scheduler",
        "token_id": None,  # no token row needed here
        "role": "coordinator",
        "method": "GET",
        "route": "/api/v1/patients/{patient_id:int}",
        "action": "read",
        "status": 200,
        "clinic_id": None,
        "resource_type": "patient",
        "resource_id": str(n),
    }


async def test_concurrent_entries_share_commits_and_all_are_stored(access_db: Database) -> None:
    # A batch is one INSERT, atomic on its own (outside an explicit transaction on
    # PostgreSQL, inside one on SQLite): count the INSERTs.
    commits = 0

    def count(*args: Any) -> None:
        nonlocal commits
        if args[2].lstrip().upper().startswith("INSERT"):  # (conn, cursor, statement, ...)
            commits += 1

    event.listen(access_db.engine.sync_engine, "before_cursor_execute", count)
    try:
        writer = AuditWriter(access_db)
        await asyncio.gather(*(writer.write(_entry(n)) for n in range(200)))
    finally:
        event.remove(access_db.engine.sync_engine, "before_cursor_execute", count)
    async with access_db.sessions() as session:
        stored = await session.scalar(select(func.count()).select_from(AuditEntry))
    assert stored == 200
    assert 1 <= commits <= 3  # the first alone, then the rest together


async def test_a_failed_commit_fails_every_entry_in_it(access_db: Database) -> None:
    writer = AuditWriter(access_db)
    bad = {**_entry(1), "method": "X" * 500}  # longer than its column: the INSERT fails
    results = await asyncio.gather(
        writer.write(bad), writer.write(_entry(2)), return_exceptions=True
    )
    assert all(isinstance(result, Exception) for result in results)
    await writer.write(_entry(3))  # the next commit is a new one
    async with access_db.sessions() as session:
        ids = (await session.execute(select(AuditEntry.resource_id))).scalars().all()
    assert ids == ["3"]
