"""The planner publishes its SendMessage commands straight after its commit; a message
whose command never reached the bus (a failed publish, a crash between commit and publish,
a stream Redis lost) is given one by `requeue_unsent`, but only once the stream has handed
out everything it holds, so a burst's backlog is never doubled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import func, select

from services.scheduler import planner
from services.scheduler.models import Message, Outbox
from services.scheduler.settings import SchedulerSettings
from services.scheduler.sweeps import UNSENT_AFTER, requeue_unsent
from shared.bus import BusKeys, Publisher, decode
from shared.db import Database
from shared.messages import SendMessage
from tests.integration.schedutil import clinic, context, enrol

pytestmark = pytest.mark.usefixtures("secrets_env")

CONFIG = SchedulerSettings()


async def _three_due(scheduler_db: Database, access_db: Database) -> datetime:
    ctx = context(scheduler_db, access_db)
    yx = await clinic(access_db)
    now = datetime.now(UTC)
    for number in ("0001", "0002", "0003"):
        await enrol(
            ctx,
            yx,
            number,
            dose_time=now.strftime("%H:%M"),  # due now, in UTC
            quiet_start="00:00",
            quiet_end="00:00",
            time_zone="UTC",
        )
    await planner.plan_ahead(scheduler_db, CONFIG, now)
    return now + timedelta(seconds=1)


async def _queued_ids(db: Database) -> list[str]:
    async with db.sessions() as session:
        rows = await session.execute(select(Message.id).where(Message.state == "queued"))
        return sorted(rows.scalars())


async def _outbox_commands(db: Database) -> list[str]:
    async with db.sessions() as session:
        payloads = (await session.execute(select(Outbox.payload))).scalars().all()
    return sorted(
        m.message_id for m in (decode({"m": p}) for p in payloads) if isinstance(m, SendMessage)
    )


async def _stream(redis: Redis, keys: BusKeys) -> list[str]:
    entries: Any = await redis.xrange(keys.stream(SendMessage.name()))
    return sorted(
        m.message_id
        for m in (decode(fields) for _, fields in entries)
        if isinstance(m, SendMessage)
    )


@pytest.fixture
def keys(isolation: str) -> BusKeys:
    return BusKeys(isolation.rstrip("_"))


@pytest.fixture
def publisher(redis: Redis, keys: BusKeys) -> Publisher:
    return Publisher(redis, keys)


async def test_commands_go_straight_to_the_stream_not_the_outbox(
    scheduler_db: Database, access_db: Database, redis: Redis, keys: BusKeys, publisher: Publisher
) -> None:
    at = await _three_due(scheduler_db, access_db)

    released = await planner.release_due(scheduler_db, CONFIG, at, publisher.publish)

    assert released.queued == 3
    queued = await _queued_ids(scheduler_db)
    assert len(queued) == 3
    assert await _stream(redis, keys) == queued
    assert await _outbox_commands(scheduler_db) == []  # no second copy to relay


async def test_a_failed_publish_loses_nothing_and_the_sweep_waits_for_the_backlog(
    scheduler_db: Database, access_db: Database, redis: Redis, keys: BusKeys, publisher: Publisher
) -> None:
    at = await _three_due(scheduler_db, access_db)

    async def redis_down(commands: Sequence[SendMessage]) -> None:
        raise RedisConnectionError("Connection refused")

    released = await planner.release_due(scheduler_db, CONFIG, at, redis_down)
    assert released.queued == 3  # committed, and said so, though nothing was published
    queued = await _queued_ids(scheduler_db)
    assert len(queued) == 3
    assert await _stream(redis, keys) == []

    async def delivered() -> bool:
        return await publisher.all_delivered(SendMessage, group="scheduler")

    # Young queued messages are left alone: their commands may still be on the way.
    assert await requeue_unsent(scheduler_db, at, delivered) == 0

    # A backlog the group has not read yet: the messages may only be waiting their turn.
    stream = keys.stream(SendMessage.name())
    await redis.xgroup_create(stream, "scheduler", id="0", mkstream=True)
    await publisher.publish([SendMessage(message_id="another-message")])
    later = at + UNSENT_AFTER + timedelta(seconds=1)
    assert not await delivered()
    assert await requeue_unsent(scheduler_db, later, delivered) == 0

    # The group has read everything: the three have no command anywhere; each gets one.
    await redis.xreadgroup("scheduler", "c1", {stream: ">"}, count=10)
    assert await delivered()
    assert await requeue_unsent(scheduler_db, later, delivered) == 3
    assert await _outbox_commands(scheduler_db) == queued
    # Touched by the sweep: not given a second command at the next tick.
    assert await requeue_unsent(scheduler_db, later + timedelta(seconds=5), delivered) == 0


async def test_a_stream_redis_lost_counts_as_delivered(
    redis: Redis, keys: BusKeys, publisher: Publisher
) -> None:
    """No stream or no group: nothing in Redis will hand out the lost commands."""
    assert await publisher.all_delivered(SendMessage, group="scheduler")
    await publisher.publish([SendMessage(message_id="m1")])
    assert await publisher.all_delivered(SendMessage, group="scheduler")  # no group yet
    await redis.xgroup_create(keys.stream(SendMessage.name()), "scheduler", id="0")
    assert not await publisher.all_delivered(SendMessage, group="scheduler")


async def test_without_a_publisher_the_outbox_carries_the_commands(
    scheduler_db: Database, access_db: Database
) -> None:
    at = await _three_due(scheduler_db, access_db)
    await planner.release_due(scheduler_db, CONFIG, at)
    assert await _outbox_commands(scheduler_db) == await _queued_ids(scheduler_db)
    async with scheduler_db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 3
