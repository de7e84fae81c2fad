"""`BulkWrite` writes the same rows on both databases: one statement over arrays on
PostgreSQL, an executemany on SQLite."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import ColumnElement, Table, case, select

from services.feedback.models import ProcessedMessage
from shared.bulk import BulkWrite, one_of
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


def _tagged(key: str, tags: dict[str, str], at: datetime) -> list[dict[str, Any]]:
    return [{key: k, "message_tag": tag, "processed_at": at} for k, tag in tags.items()]


async def _write(db: Database, writer: BulkWrite, rows: list[dict[str, Any]]) -> None:
    async with db.transaction() as session:
        await writer.execute(session, rows)


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
    await _write(
        db, change, _tagged("id", {"m2": "Probe.v2", "m0": "Probe.v2", "absent": "Probe.v9"}, later)
    )
    assert await _rows(db) == [
        ("m0", "Probe.v2", later),
        ("m1", "Probe.v1", AT),
        ("m2", "Probe.v2", later),
    ]


async def test_one_of_picks_the_listed_rows(db: Database) -> None:
    add = BulkWrite(TABLE, ("message_id", "message_tag", "processed_at"))
    async with db.transaction() as session:
        await add.execute(
            session,
            [
                {"message_id": f"m{i}", "message_tag": "Probe.v1", "processed_at": AT}
                for i in range(5)
            ],
        )
    async with db.sessions() as session:
        found = [
            set(
                (
                    await session.execute(
                        select(TABLE.c.message_id).where(one_of(session, TABLE.c.message_id, ids))
                    )
                ).scalars()
            )
            for ids in (["m3", "m0", "absent"], [], ["m1"] * 3)
        ]
    assert found == [{"m0", "m3"}, set(), {"m1"}]


async def test_a_computed_column_decides_on_the_row_as_the_update_finds_it(db: Database) -> None:
    """A tag marked final is kept whatever the batch brings; the other columns are written."""
    add = BulkWrite(TABLE, ("message_id", "message_tag", "processed_at"))

    def unless_final(new: Mapping[str, ColumnElement[Any]]) -> ColumnElement[Any]:
        return case(
            (TABLE.c.message_tag == "Final.v1", TABLE.c.message_tag), else_=new["message_tag"]
        )

    change = BulkWrite(
        TABLE,
        ("message_tag", "processed_at"),
        key="message_id",
        key_param="id",
        computed={"message_tag": unless_final},
    )
    await _write(db, add, _tagged("message_id", {"m0": "Probe.v1", "m1": "Final.v1"}, AT))
    later = AT + timedelta(minutes=5)
    await _write(db, change, _tagged("id", {"m0": "Probe.v2", "m1": "Probe.v2"}, later))
    assert await _rows(db) == [("m0", "Probe.v2", later), ("m1", "Final.v1", later)]
