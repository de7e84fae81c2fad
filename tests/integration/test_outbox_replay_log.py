"""How the outbox relay reports a replay: a warning when Redis lost its data, info on the
private in-memory Redis `mmt up` starts empty (the replay itself is the same)."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from shared.bus import BusKeys, outbox
from shared.bus.outbox import mark_fresh_private_redis
from shared.db import Database
from shared.logging import get_logger
from shared.service import ServiceDefinition
from tests.integration.busutil import make_relay, stage_probes


async def _wipe(redis: Redis, keys: BusKeys) -> None:
    """What a flush or a restart without persistence does to this bus's keys."""
    found = [key async for key in redis.scan_iter(match=f"{keys.tag}:*", count=1000)]
    if found:
        await redis.delete(*found)


def _replays(logs: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    return [
        (entry["log_level"], entry["rows"], entry["reason"])
        for entry in logs
        if entry["event"] == "outbox.replay"
    ]


async def _relay_once_logged(relay: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """One relay pass and what it logged. structlog caches a logger on its first use
    (`cache_logger_on_first_use`): once any earlier test in this process has used the
    relay's, `capture_logs` no longer sees it. A fresh one caches inside this capture."""
    monkeypatch.setattr(outbox, "log", get_logger(outbox.__name__))
    with capture_logs() as logs:
        assert await relay.relay_once() == 3
    return logs


async def test_lost_data_is_a_warning_and_a_fresh_private_redis_is_info(
    redis: Redis,
    isolation: str,
    content_db: Database,
    content: ServiceDefinition,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = BusKeys(isolation.rstrip("_"))
    relay = make_relay(content_db, redis, keys, content)
    await stage_probes(content_db, content, 3)
    first_start = await _relay_once_logged(relay, monkeypatch)
    assert _replays(first_start) == []  # nothing was published before: nothing to say

    # Redis loses its data under a running suite (production, or a wiped `mmt up` Redis).
    await _wipe(redis, keys)
    lost = await _relay_once_logged(relay, monkeypatch)  # the window, again
    assert _replays(lost) == [("warning", 3, "bus epoch key missing: Redis lost its data")]

    # `mmt up` starts its private Redis empty and marks it so: same replay, said at info.
    await _wipe(redis, keys)
    await mark_fresh_private_redis(redis, keys, "mmt up")
    fresh = await _relay_once_logged(relay, monkeypatch)
    [(level, rows, reason)] = _replays(fresh)
    assert (level, rows) == ("info", 3)
    assert "private in-memory Redis `mmt up` started empty" in reason

    # Wiped while it runs, the mark goes with the data: a real loss again, a warning.
    await _wipe(redis, keys)
    wiped = await _relay_once_logged(relay, monkeypatch)
    assert _replays(wiped) == [("warning", 3, "bus epoch key missing: Redis lost its data")]
