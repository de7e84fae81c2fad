"""Transactional outbox: write events with the change, publish them after it commits.

`add_to_outbox` is called inside the caller's transaction, so an event exists if and only
if the change that caused it was committed. `OutboxRelay` publishes unpublished rows to
their streams and stamps them. Published rows are kept for a replay window: if Redis loses
its data (wiped, or restarted without persistence) the relay notices that its epoch key
is gone and publishes the window again. Consumers de-duplicate by message id, so a replay
costs only work, never a double effect.

`mmt up` runs a private, in-memory Redis that starts empty every time: it marks it
(`mark_fresh_private_redis`), and a replay there is expected and logged at info. The mark
lives in Redis itself, so if that Redis is wiped while running, the mark goes with its
data and the loss is a warning again, as on any other Redis.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.bus.codec import encode_payload
from shared.bus.keys import BusKeys
from shared.bus.publisher import Publisher
from shared.bus.tables import OutboxMixin
from shared.db import Database
from shared.logging import get_logger
from shared.messages import Message
from shared.metrics import OUTBOX_PUBLISHED, OUTBOX_REPLAYED

log = get_logger(__name__)


def fresh_private_redis_key(keys: BusKeys) -> str:
    """Present in a Redis that `mmt up` started empty, for its own run."""
    return f"{keys.tag}:fresh-private-redis"  # the epoch's slot: read beside it


async def mark_fresh_private_redis(redis: Redis, keys: BusKeys, started_by: str) -> None:
    """Tell the relays that this Redis started empty by design (`mmt up`'s private one)."""
    await redis.set(fresh_private_redis_key(keys), started_by)


def add_to_outbox(
    session: AsyncSession, outbox_model: type[OutboxMixin], *messages: Message
) -> None:
    """Stage messages for publication in the caller's open transaction."""
    now = datetime.now(UTC)
    model: Any = outbox_model  # a mixin: the concrete class is the service's
    for message in messages:
        session.add(
            model(
                message_id=str(message.id),
                message_name=message.name(),
                message_tag=message.tag(),
                payload=encode_payload(message),
                created_at=now,
                published_at=None,
            )
        )


class OutboxRelay:
    """Publishes one service's outbox; safe to run in several replicas at once."""

    def __init__(
        self,
        db: Database,
        redis: Redis,
        keys: BusKeys,
        outbox_model: type[OutboxMixin],
        *,
        service: str,
        batch_size: int = 500,
        stream_maxlen: int = 2_000_000,
        replay_window_s: int = 86_400,
    ) -> None:
        self.db = db
        self.redis = redis
        self.keys = keys
        self.model: Any = outbox_model
        self.service = service
        self.batch_size = batch_size
        self.publisher = Publisher(redis, keys, stream_maxlen=stream_maxlen)
        self.replay_window = timedelta(seconds=replay_window_s)

    async def relay_once(self, max_batches: int = 100) -> int:
        """Publish what is waiting, a batch per transaction; returns how many were sent."""
        await self._replay_if_redis_lost_data()
        sent = 0
        for _ in range(max_batches):
            count = await self._publish_batch()
            sent += count
            if count < self.batch_size:
                break
        return sent

    async def _publish_batch(self) -> int:
        model = self.model
        async with self.db.transaction() as session:
            # SKIP LOCKED lets replicas share the work instead of waiting on each other;
            # SQLite has no row locks and ignores it (one writer at a time anyway).
            rows = (
                await session.execute(
                    select(model.seq, model.message_name, model.message_tag, model.payload)
                    .where(model.published_at.is_(None))
                    .order_by(model.seq)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            entries: dict[str, list[str | bytes]] = {}
            for row in rows:  # in order within each stream
                entries.setdefault(self.keys.stream(row.message_name), []).extend(
                    (row.message_tag, row.payload)
                )
            # If Redis fails here the transaction rolls back and the rows go next time;
            # if the commit fails after XADD they are published twice: consumers dedupe.
            await self.publisher.add(entries)
            await session.execute(
                update(model)
                .where(model.seq.in_([row.seq for row in rows]))
                .values(published_at=datetime.now(UTC))
            )
        OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
        return len(rows)

    async def _replay_if_redis_lost_data(self) -> None:
        epoch_key = self.keys.outbox_epoch(self.service)
        if await self.redis.exists(epoch_key):
            return
        # SET NX: of several replicas noticing at once, one resets the window (the others
        # would only cause harmless duplicates, but there is no need).
        if not await self.redis.set(epoch_key, datetime.now(UTC).isoformat(), nx=True):
            return
        since = datetime.now(UTC) - self.replay_window
        async with self.db.transaction() as session:
            result = await session.execute(
                update(self.model).where(self.model.published_at >= since).values(published_at=None)
            )
        replayed = int(getattr(result, "rowcount", 0) or 0)
        OUTBOX_REPLAYED.labels(self.service).inc(replayed)
        if not replayed:
            return
        if await self.redis.exists(fresh_private_redis_key(self.keys)):
            log.info(
                "outbox.replay",
                service=self.service,
                rows=replayed,
                reason="first start on the private in-memory Redis `mmt up` started empty: "
                "the replay window is published again (consumers de-duplicate)",
            )
        else:
            log.warning(
                "outbox.replay",
                service=self.service,
                rows=replayed,
                reason="bus epoch key missing: Redis lost its data",
            )

    async def forget_old(self) -> int:
        """Delete rows published before the replay window; returns how many."""
        cutoff = datetime.now(UTC) - self.replay_window
        async with self.db.transaction() as session:
            result = await session.execute(
                delete(self.model).where(self.model.published_at < cutoff)
            )
        return int(getattr(result, "rowcount", 0) or 0)
