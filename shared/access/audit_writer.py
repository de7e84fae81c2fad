"""Group commit for the audit log: every request still waits for its entry to be durable
before its answer leaves, but entries of concurrent requests share one transaction.

One commit per request capped the API at what PostgreSQL can fsync (each coordinator read
cost a round trip and a WAL flush before its first byte). Here the first entry is written
at once; entries that arrive while a commit is in flight wait for the next one, which takes
them all in one multi-row INSERT. At low load nothing waits longer than before; under load
the number of commits stays about constant while requests grow. A failed commit fails
every entry in it, and each of those requests is answered 503 (nothing served unaudited).

On PostgreSQL a batch is one executemany outside an explicit transaction: asyncpg sends it
as one pipelined, atomic statement group that commits (durably, fsync on) when it ends,
one round trip instead of BEGIN, INSERT and COMMIT. SQLite gets an ordinary transaction,
where an executemany outside one would commit row by row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, insert

from shared.access.models import AuditEntry
from shared.db import Database
from shared.group_commit import GroupCommit

MAX_BATCH = 500  # bounded statement size; the rest wait for the next commit
_AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]
_INSERT = insert(_AUDIT)  # Core: no unit of work, compiled once


class AuditWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._group = GroupCommit(self._insert, MAX_BATCH)

    async def write(self, entry: dict[str, Any]) -> None:
        """Returns once `entry` is committed; raises what the commit raised (each request
        then answers 503)."""
        await self._group.submit(entry)

    async def _insert(self, entries: list[dict[str, Any]]) -> None:
        if self.db.is_sqlite:
            async with self.db.engine.begin() as conn:
                await conn.execute(_INSERT, entries)
            return
        async with self.db.autocommit() as conn:  # autocommit: the executemany is the transaction
            await conn.execute(_INSERT, entries)
