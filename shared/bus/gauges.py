"""The bus's backlog as Prometheus gauges, sampled by each worker (shared/worker.py).

Counters say what a worker did; an operator (and KEDA, and the alert rules in
deploy/k8s/components/monitoring) needs what is still waiting: per stream and consumer
group, the entries not yet handed to the group (`lag`, Redis 7) and those handed out but
not acknowledged (`pending`), and the dead letters' count. Every worker of a group reports
the same figures; the rules take their maximum.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Gauge
from redis.asyncio import Redis

from shared.bus.keys import BusKeys

BUS_GROUP_LAG = Gauge(
    "mmt_bus_group_lag",
    "Entries of a stream not yet delivered to a consumer group (Redis 7's XINFO lag).",
    ["stream", "group"],
    multiprocess_mode="max",
)
BUS_GROUP_PENDING = Gauge(
    "mmt_bus_group_pending",
    "Entries delivered to a consumer group and not yet acknowledged.",
    ["stream", "group"],
    multiprocess_mode="max",
)
BUS_DEAD_LETTERS = Gauge(
    "mmt_bus_dead_letters",
    "Entries in the dead-letter stream (`mmt deadletters list`).",
    multiprocess_mode="max",
)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def sample_backlog(redis: Redis, keys: BusKeys, streams: Iterable[str], group: str) -> None:
    """Set the gauges for `group` on each of `streams`, and the dead letters' count."""
    for stream in streams:
        if not await redis.exists(stream):
            continue  # nothing published yet: no group to ask about
        groups: Any = await redis.xinfo_groups(stream)
        for info in groups:
            if _text(info["name"]) != group:
                continue
            lag = info.get("lag")
            # Redis 6.2 has no lag (and 7 answers None when it cannot tell): pending only.
            if lag is not None:
                BUS_GROUP_LAG.labels(stream, group).set(int(lag))
            BUS_GROUP_PENDING.labels(stream, group).set(int(info["pending"]))
    BUS_DEAD_LETTERS.set(await redis.xlen(keys.dead_letters))
