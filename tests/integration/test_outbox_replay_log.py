"""How the outbox relay reports a replay: a warning when Redis lost its data, info on the
private in-memory Redis `mmt up` starts empty (the replay itself is the same)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from structlog.testing import capture_logs

from shared.bus import BusKeys
from shared.bus.outbox import mark_fresh_private_redis
from shared.db import Database
from shared.service import ServiceDefinition
from tests.integration.busutil import make_relay, stage_probes


async def _wipe(redis: Redis, keys: BusKeys) -> None:
    """What a flush or a restart without persistence does to this bus's keys."""
    found = [key async for key in redis.scan_iter(match=f"{keys.prefix}:*", count=1000)]
    if found:
        await redis.delete(*found)


def _replays(logs: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    return [
        (entry["log_level"], entry["rows"], entry["reason"])
        for entry in logs
        if entry["event"] == "outbox.replay"
    ]


async def test_lost_data_is_a_warning_and_a_fresh_private_redis_is_info(
    redis: Redis, isolation: str, content_db: Database, content: ServiceDefinition
) -> None:
    keys = BusKeys(isolation.rstrip("_"))
    relay = make_relay(content_db, redis, keys, content)
    await stage_probes(content_db, content, 3)
    with capture_logs() as first_start:
        assert await relay.relay_once() == 3
    assert _replays(first_start) == []  # nothing was published before: nothing to say

    # Redis loses its data under a running suite (production, or a wiped `mmt up` Redis).
    await _wipe(redis, keys)
    with capture_logs() as lost:
        assert await relay.relay_once() == 3  # the window, again
    assert _replays(lost) == [("warning", 3, "bus epoch key missing: Redis lost its data")]

    # `mmt up` starts its private Redis empty and marks it so: same replay, said at info.
    await _wipe(redis, keys)
    await mark_fresh_private_redis(redis, keys, "mmt up")
    with capture_logs() as fresh:
        assert await relay.relay_once() == 3
    [(level, rows, reason)] = _replays(fresh)
    assert (level, rows) == ("info", 3)
    assert "private in-memory Redis `mmt up` started empty" in reason

    # Wiped while it runs, the mark goes with the data: a real loss again, a warning.
    await _wipe(redis, keys)
    with capture_logs() as wiped:
        assert await relay.relay_once() == 3
    assert _replays(wiped) == [("warning", 3, "bus epoch key missing: Redis lost its data")]
