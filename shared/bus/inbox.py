"""Idempotent handling: a message id is recorded in the same transaction as its effects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared.bus.tables import ProcessedMessageMixin
from shared.db import Database
from shared.messages import Message


class Inbox:
    """Opens the transaction a handler runs in, or says the message was already handled."""

    def __init__(self, db: Database, processed_model: type[ProcessedMessageMixin]) -> None:
        self.db = db
        self.table: Any = processed_model.__table__  # type: ignore[attr-defined]
        self._insert: Any = sqlite.insert if db.is_sqlite else postgresql.insert

    @asynccontextmanager
    async def claim(self, message: Message) -> AsyncIterator[AsyncSession | None]:
        """Yield a session for a new message, None for one already handled.

        On PostgreSQL a second consumer handling the same message at the same moment
        blocks on the primary key until the first commits, then finds it done.
        """
        async with self.db.transaction() as session:
            result = await session.execute(
                self._insert(self.table)
                .values(
                    message_id=str(message.id),
                    message_tag=message.tag(),
                    processed_at=datetime.now(UTC),
                )
                .on_conflict_do_nothing(index_elements=["message_id"])
            )
            is_new = bool(getattr(result, "rowcount", 0))
            yield session if is_new else None
