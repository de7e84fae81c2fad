"""`BulkWrite` writes the same rows on both databases: one statement over arrays on
PostgreSQL, an executemany on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, select

from services.feedback.models import ProcessedMessage
from shared.bulk import BulkWrite
from shared.db import Database

TABLE: Table = ProcessedMessage.__table__  # type: ignore[assignment]
AT = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.fixture
def db(feedback_db_either: Database) -> Database:
    return feedback_db_either


async def _rows(db: Database) -> list[tuple[Any, ...]]:
    async with db.sessions() as session:
        result = await session.execute(
            select(TABLE.c.message_id, TABLE.c.message_tag, TABLE.c.processed_at).order_by(
                TABLE.c.message_id
            )
        )
        return [tuple(row) for row in result]


async def test_insert_then_update_by_key(db: Database) -> None:
    add = BulkWrite(TABLE, ("message_id", "message_tag", "processed_at"))
    change = BulkWrite(TABLE, ("message_tag", "processed_at"), key="message_id", key_param="id")
    async with db.transaction() as session:
        await add.execute(
            session,
            [
                {"message_id": f"m{i}", "message_tag": "Probe.v1", "processed_at": AT}
                for i in range(3)
            ],
        )
        await add.execute(session, [])  # nothing to write: no statement
    later = AT + timedelta(minutes=5)
    async with db.transaction() as session:
        await change.execute(
            session,
            [
                {"id": "m2", "message_tag": "Probe.v2", "processed_at": later},
                {"id": "m0", "message_tag": "Probe.v2", "processed_at": later},
                {"id": "absent", "message_tag": "Probe.v9", "processed_at": later},
            ],
        )
    assert await _rows(db) == [
        ("m0", "Probe.v2", later),
        ("m1", "Probe.v1", AT),
        ("m2", "Probe.v2", later),
    ]
