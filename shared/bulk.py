"""A batch of rows written as one statement, on PostgreSQL over arrays (unnest).

An executemany of a single-row INSERT or UPDATE is one execution per row in PostgreSQL;
in a morning burst those executions were the largest part of the database's time
(docs/benchmarks.md). On PostgreSQL a `BulkWrite` sends each column as one array and
lets `unnest` turn them back into rows: one statement, one plan, one execution. SQLite
(the embedded default) has no arrays and gets the executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, any_, bindparam, cast, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import QueryableAttribute


def one_of(
    session: AsyncSession,
    column: ColumnElement[Any] | QueryableAttribute[Any],
    values: Sequence[Any],
) -> ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `column = ANY(:values)`, one array parameter.

    SQLAlchemy renders an IN list anew at every execution, one bound parameter per value
    (expanding parameters are filled in after its statement cache): for a batch of 200
    message ids that was 4 % of a worker's time in a burst (docs/benchmarks.md). As one
    array the statement stays as cached. SQLite has no arrays and keeps the IN list.
    """
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(values)
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))


Computed = Callable[[Mapping[str, ColumnElement[Any]]], ColumnElement[Any]]


def _with_computed(
    new: Mapping[str, ColumnElement[Any]], computed: Mapping[str, Computed] | None
) -> dict[str, ColumnElement[Any]]:
    computed = computed or {}
    return {name: computed[name](new) if name in computed else new[name] for name in new}


class BulkWrite:
    """INSERT rows into `table`, or with `key` UPDATE the rows whose `key` column matches.

    Rows are dicts keyed by column name (the key's value under `key_param`, as a Core
    UPDATE with `bindparam(key_param)` would take it). An UPDATE may compute a column in
    SQL instead (`computed`: column name -> a function of the new values, by name, giving
    the SET expression), so a rule that depends on the row as it is when locked runs in
    the statement itself, with no locking read before it.
    """

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        *,
        key: str | None = None,
        key_param: str = "key",
        computed: Mapping[str, Computed] | None = None,
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
            new = {name: rows.c[name] for name in columns}
            self.arrays = (
                update(table)
                .where(table.c[key] == rows.c[key_param])
                .values(_with_computed(new, computed))
            )
            one: dict[str, ColumnElement[Any]] = {name: bindparam(name) for name in columns}
            self.each = (
                update(table)
                .where(table.c[key] == bindparam(key_param))
                .values(_with_computed(one, computed))
            )

    async def execute(
        self, session: AsyncSession | AsyncConnection, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """In a session's transaction, or on a connection (`Database.autocommit`: the
        statement its own transaction)."""
        if not rows:
            return
        bind = session if isinstance(session, AsyncConnection) else session.get_bind()
        if bind.dialect.name != "postgresql":
            await session.execute(self.each, list(rows))
            return
        await session.execute(
            self.arrays, {name: [row[name] for row in rows] for name in self.params}
        )
