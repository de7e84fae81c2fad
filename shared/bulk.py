"""A batch of rows written as one statement, on PostgreSQL over arrays (unnest).

An executemany of a single-row INSERT or UPDATE is one execution per row in PostgreSQL;
in a morning burst those executions were the largest part of the database's time
(docs/benchmarks.md). On PostgreSQL a `BulkWrite` sends each column as one array and
lets `unnest` turn them back into rows: one statement, one plan, one execution. SQLite
(the embedded default) has no arrays and gets the executemany.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, cast, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession


class BulkWrite:
    """INSERT rows into `table`, or with `key` UPDATE the rows whose `key` column matches.

    Rows are dicts keyed by column name (the key's value under `key_param`, as a Core
    UPDATE with `bindparam(key_param)` would take it).
    """

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        *,
        key: str | None = None,
        key_param: str = "key",
    ) -> None:
        self.params = [key_param, *columns] if key else list(columns)
        arrays = {
            param: ARRAY(table.c[key if param == key_param and key else param].type)
            for param in self.params
        }
        rows = (
            func.unnest(*(cast(bindparam(name), kind) for name, kind in arrays.items()))
            .table_valued(*arrays)
            .render_derived("u")
        )
        self.arrays: Any
        self.each: Any
        if key is None:
            self.arrays = insert(table).from_select(
                list(columns), select(*(rows.c[name] for name in columns))
            )
            self.each = insert(table)
        else:
            self.arrays = (
                update(table)
                .where(table.c[key] == rows.c[key_param])
                .values({name: rows.c[name] for name in columns})
            )
            self.each = (
                update(table)
                .where(table.c[key] == bindparam(key_param))
                .values({name: bindparam(name) for name in columns})
            )

    async def execute(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if session.get_bind().dialect.name != "postgresql":
            await session.execute(self.each, list(rows))
            return
        await session.execute(
            self.arrays, {name: [row[name] for row in rows] for name in self.params}
        )
