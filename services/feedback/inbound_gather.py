"""Several partitions' batches handled as one: fewer, larger transactions at a trickle.

Each partition is read by its own loop (`inbound_partitions.py`), and at a morning's pace
(100 replies a second over 16 partitions) a read brings one or two messages. Handled
alone, each such batch paid the whole round of a batch (a transaction with its look-ups,
its inserts and its commit, then the answers' record), about 3 ms of the worker's CPU a
reply in `mmt bench morning`, most of it in socket writes to PostgreSQL. Here the batches
that arrive within `linger_s` of each other are handled as one (`handle`, in the order they
came), up to `max_batch` messages, with at most `in_flight` such handlings at once.

Order is kept: a partition's loop submits its next batch only once its previous one is
handled (stored and answered), and one sender's messages are always in one partition, so
no sender's messages are ever in two handlings at once. A handling that fails fails every
batch in it; each partition's loop then handles its own messages one by one, as before,
so a message at fault is still found and set aside alone.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

LINGER_S = 0.1  # a reply's answer comes 0.1 s later at most; a batch is 10x larger


class Gather(Generic[T]):
    def __init__(
        self,
        handle: Callable[[Sequence[T]], Awaitable[None]],
        *,
        linger_s: float = LINGER_S,
        max_batch: int,
        in_flight: asyncio.Semaphore,
    ) -> None:
        self._handle = handle
        self.linger_s = linger_s
        self.max_batch = max_batch
        self.in_flight = in_flight
        self._pending: deque[tuple[Sequence[T], asyncio.Future[None]]] = deque()
        self._count = 0  # messages pending
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, batch: Sequence[T]) -> None:
        """Returns once `batch` is handled (with others); raises what its handling raised."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((batch, done))
        self._count += len(batch)
        if self._count >= self.max_batch or self.linger_s <= 0:
            self._start()
        elif self._timer is None:
            self._timer = loop.call_later(self.linger_s, self._start)
        await done

    def _start(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task = asyncio.get_running_loop().create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[tuple[Sequence[T], asyncio.Future[None]]]:
        """Whole batches, in arrival order, up to `max_batch` messages (at least one)."""
        taken: list[tuple[Sequence[T], asyncio.Future[None]]] = []
        size = 0
        while self._pending and (not taken or size + len(self._pending[0][0]) <= self.max_batch):
            batch, done = self._pending.popleft()
            taken.append((batch, done))
            size += len(batch)
        self._count -= size
        if self._pending and self._timer is None:
            # What did not fit waits its own linger (or the next batch to fill it).
            self._timer = asyncio.get_running_loop().call_later(self.linger_s, self._start)
        return taken

    async def _flush(self) -> None:
        async with self.in_flight:
            # Taken once a slot is free: what arrived while waiting for it goes too.
            taken = self._take()
            if not taken:
                return
            try:
                await self._handle([item for batch, _ in taken for item in batch])
            except asyncio.CancelledError:
                for _, done in taken:
                    done.cancel()
                raise
            except Exception as exc:  # every batch's loop learns it
                for _, done in taken:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in taken:
                    if not done.done():
                        done.set_result(None)
