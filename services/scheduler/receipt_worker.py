"""The worker's side of receipts: apply a read batch of `ReceiptsReceived` at once.

The consumer hands a whole read batch to `handle_batch` in one transaction, with its inbox
(each bus message's id recorded in that transaction, so a redelivered batch is skipped:
applying a failed receipt twice would fail a message that the first one moved to its next
channel). Receipts that match no message are kept (`receipt_waiting.py`) and retried by a
tick (`retry_waiting`) until their send is recorded or their bound passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.receipt_rules import UNKNOWN, Receipt, apply_in
from services.scheduler.receipt_stream import advance_heard_until, updates_of
from services.scheduler.receipt_waiting import Kept, WaitingReceipts
from services.scheduler.receipts import RECEIPTS
from shared.bus import BusKeys
from shared.db import Database
from shared.messages import ReceiptsReceived

# How long a receipt that matches no message is kept before it is dead-lettered: far
# longer than any send takes to be recorded, far shorter than the fallback's wait.
WAITING_BOUND = timedelta(minutes=5)


class ReceiptApplier:
    def __init__(
        self,
        db: Database,
        redis: Redis,
        keys: BusKeys,
        bound: timedelta = WAITING_BOUND,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.waiting = WaitingReceipts(redis, keys, bound)
        self.clock = clock
        self.redis, self.keys = redis, keys

    async def handle(self, message: ReceiptsReceived, session: AsyncSession) -> None:
        await self.handle_batch([message], session)

    async def handle_batch(self, messages: list[ReceiptsReceived], session: AsyncSession) -> None:
        receipts: list[Receipt] = []
        origins: list[Kept] = []
        for message in messages:
            for index, (update, wire) in enumerate(
                zip(updates_of(message), message.receipts, strict=True)
            ):
                receipts.append(Receipt(message.provider, update))
                origins.append(
                    Kept(
                        key=f"{message.id}:{index}",
                        provider=message.provider,
                        receipt=wire,
                        arrived_at=message.occurred_at,
                    )
                )
        heard: dict[str, datetime] = {}
        outcomes = await apply_in(session, receipts, self.clock(), heard)
        # Before the commit too: a batch handled again only says the same again.
        await advance_heard_until(self.redis, self.keys, heard)
        # Kept before the commit: if the commit fails, the batch is handled again and
        # keeps the same members (ZADD NX), so nothing is kept twice.
        await self.waiting.keep(
            [
                (kept, self.waiting.deadline(kept.arrived_at))
                for kept, outcome in zip(origins, outcomes, strict=True)
                if outcome == UNKNOWN
            ]
        )
        _count(receipts, outcomes)

    async def retry_waiting(self) -> None:
        """A tick: kept receipts whose send is now recorded are applied; those past their
        bound are dead-lettered."""
        await self.waiting.retry(self._apply_now, self.clock())

    async def _apply_now(self, receipts: Sequence[Receipt]) -> list[str]:
        heard: dict[str, datetime] = {}
        async with self.db.transaction() as session:
            outcomes = await apply_in(session, receipts, self.clock(), heard)
        await advance_heard_until(self.redis, self.keys, heard)
        _count(receipts, outcomes, kept=True)
        return outcomes


def _count(receipts: Sequence[Receipt], outcomes: Sequence[str], kept: bool = False) -> None:
    """Each outcome by provider; a kept receipt still unknown was counted when it came."""
    for receipt, outcome in zip(receipts, outcomes, strict=True):
        if kept and outcome == UNKNOWN:
            continue
        RECEIPTS.labels(receipt.provider, f"{outcome}_after_waiting" if kept else outcome).inc()
