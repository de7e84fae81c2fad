"""The backlog gauges a worker samples: what waits, per stream and group, and dead letters."""

from __future__ import annotations

from prometheus_client import REGISTRY
from redis.asyncio import Redis

from shared.bus import BusKeys
from shared.bus.gauges import sample_backlog


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_lag_pending_and_dead_letters_are_what_redis_holds(
    redis: Redis, isolation: str
) -> None:
    keys = BusKeys(isolation.rstrip("_"))
    stream, group = keys.stream("SendMessage"), f"{isolation}scheduler"
    await redis.xgroup_create(stream, group, id="0", mkstream=True)
    for n in range(10):
        await redis.xadd(stream, {"n": str(n)})
    # A consumer reads 4 (pending until acknowledged) and acknowledges 1.
    [(_, entries)] = await redis.xreadgroup(group, "worker-1", {stream: ">"}, count=4)
    await redis.xack(stream, group, entries[0][0])
    for n in range(3):
        await redis.xadd(keys.dead_letters, {"reason": f"r{n}"})

    await sample_backlog(redis, keys, [stream, keys.stream("NeverPublished")], group)

    assert gauge("mmt_bus_group_lag", stream=stream, group=group) == 6
    assert gauge("mmt_bus_group_pending", stream=stream, group=group) == 3
    assert gauge("mmt_bus_dead_letters") == 3
    # A stream nobody published to yet is skipped, not an error.
    assert gauge("mmt_bus_group_lag", stream=keys.stream("NeverPublished"), group=group) is None
