"""Receipts that matched no message yet, kept in Redis until one does, or for a bound.

A provider can call back before our record of its answer is written (Twilio answers the
send, and its first callback may beat our UPDATE): matched by the provider's id, such a
receipt finds nothing. It is kept in a sorted set (score: when it must be given up),
retried every tick, applied once its send is recorded; after the bound it goes to the dead
letters with its reason, replayable like any other. In Redis with an expiry rather than a
table, so it needs no migration; the set and the dead-letter stream share the bus's hash
tag (one MULTI on a cluster).

Members are the receipt's JSON plus the id of the bus message that brought it and its
index: a batch handled again after a failure keeps the same member (ZADD NX), once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from redis.asyncio import Redis

from services.scheduler.receipt_rules import UNKNOWN, Receipt
from services.scheduler.receipt_stream import to_message, updates_of
from shared.bus import BusKeys
from shared.bus.codec import encode_payload
from shared.logging import get_logger
from shared.messages import ReceiptsReceived, ReceiptUpdate

log = get_logger(__name__)

# How many kept receipts one tick retries; the rest wait for the next tick.
RETRY_BATCH = 1000


class Kept(msgspec.Struct, frozen=True, kw_only=True):
    key: str  # the bus message's id and the receipt's index in it
    provider: str
    receipt: ReceiptUpdate
    arrived_at: datetime


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Kept).decode

Apply = Callable[[Sequence[Receipt]], Awaitable[list[str]]]


class WaitingReceipts:
    def __init__(self, redis: Redis, keys: BusKeys, bound: timedelta) -> None:
        self.redis = redis
        self.keys = keys
        self.bound = bound
        self.key = f"{keys.tag}:receipts:waiting"
        self.lock = f"{keys.tag}:receipts:waiting:lock"

    async def keep(self, kept: Sequence[tuple[Kept, datetime]]) -> None:
        """Keep each receipt until its deadline (the second of each pair)."""
        if not kept:
            return
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(self.key, {_encode(k): d.timestamp() for k, d in kept}, nx=True)
        # The whole set goes if no worker is left to retry it.
        pipe.expire(self.key, int(self.bound.total_seconds()) * 2 + 60)
        await pipe.execute()

    def deadline(self, arrived_at: datetime) -> datetime:
        return arrived_at + self.bound

    async def count(self) -> int:
        return int(await self.redis.zcard(self.key))

    async def retry(self, apply: Apply, now: datetime) -> tuple[int, int]:
        """Apply what is kept; give up on what passed its deadline. Returns (applied,
        dead-lettered). One worker at a time (a lock): two applying the same failed
        receipt would fall back twice."""
        if not await self.redis.set(self.lock, b"1", nx=True, px=30_000):
            return 0, 0
        try:
            members: Any = await self.redis.zrange(self.key, 0, RETRY_BATCH - 1, withscores=True)
            if not members:
                return 0, 0
            kept = [(_decode(member), member, score) for member, score in members]
            outcomes = await apply(
                [Receipt(k.provider, update) for k, _, _ in kept for update in _updates(k)]
            )
            done = [
                m for (_, m, _), outcome in zip(kept, outcomes, strict=True) if outcome != UNKNOWN
            ]
            expired = [
                (k, m)
                for (k, m, score), outcome in zip(kept, outcomes, strict=True)
                if outcome == UNKNOWN and score <= now.timestamp()
            ]
            pipe = self.redis.pipeline(transaction=True)
            if done:
                pipe.zrem(self.key, *done)
            for k, member in expired:
                pipe.xadd(self.keys.dead_letters, self._dead_letter(k, now))
                pipe.zrem(self.key, member)
            if done or expired:
                await pipe.execute()
            if expired:
                log.warning("receipts.dead_lettered", count=len(expired))
            return len(done), len(expired)
        finally:
            await self.redis.delete(self.lock)

    def _dead_letter(self, kept: Kept, now: datetime) -> dict[Any, Any]:
        # A fresh bus message (new id): replayed, the group's inbox must not take it for
        # the one it handled already.
        message = to_message(kept.provider, _updates(kept))
        waited = int(self.bound.total_seconds())
        return {
            "stream": self.keys.stream(ReceiptsReceived.name()),
            "entry": kept.key,
            "group": "scheduler",
            "type": message.tag(),
            "reason": f"no message matches this {kept.provider} receipt after {waited} s",
            "deliveries": 1,
            "m": encode_payload(message),
            "at": now.astimezone(UTC).isoformat(),
        }


def _updates(kept: Kept) -> list[Any]:
    return updates_of(ReceiptsReceived(provider=kept.provider, receipts=[kept.receipt]))
