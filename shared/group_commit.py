"""Group commit: each caller waits for its own item to be durable, but the items of
concurrent callers share one write.

The first item is written at once; items that arrive while a write is in flight wait for
the next one, which takes them all (up to `max_batch`). At low load nothing waits longer
than a write of its own; under load the number of writes stays about constant while
callers grow. A failed write fails every item in it: each caller gets its exception.
Used by the audit log (one INSERT for many requests' entries) and the receipt webhooks
(one XADD script call for many requests' receipts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[list[T]], Awaitable[None]], max_batch: int) -> None:
        self.write = write
        self.max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Returns once `item` is written; raises what its write raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._pending:
            cut = self.max_batch
            batch, self._pending = self._pending[:cut], self._pending[cut:]
            try:
                await self.write([item for item, _ in batch])
            except Exception as exc:  # every waiter learns it
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
