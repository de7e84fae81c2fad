"""Pacing: a provider account's rate, shared by every worker and replica through Redis.

Providers pace a sender (Twilio: 1 segment/s on a long code, 10/s internationally) and
answer a faster sender with 429s or queue overflows. Each worker asking Redis before each
send keeps the whole deployment under the account's rate, however many workers run.

The counting is the `limits` library's *moving window* on Redis (a Lua script over one list
of timestamps per key): at most N units in *any* span of the window, which is what a
provider measures. A fixed window is cheaper but lets 2N through around a window boundary,
exactly the burst that earns a 429. Per-second rates keep each list tiny. Timestamps come
from each worker's clock, so hosts should run NTP (a skew of a few ms only blurs the edge).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

from shared.channels.base import (
    Channel,
    FailureKind,
    OutboundMessage,
    SendFailed,
    SendResult,
)


def parse_rate(text: str) -> RateLimitItem | None:
    """A rate in the `limits` notation ("1/second", "10 per second", "600/minute"); "" or
    "none" = not paced. ("none" exists because an empty variable means "use the default"
    for every setting, and TWILIO_RATE's default is a rate.)"""
    text = text.strip()
    if not text or text.lower() in ("none", "off"):
        return None
    try:
        return parse(text)
    except ValueError as exc:
        raise ValueError(f"not a rate: {text!r} (write e.g. 1/second or 600/minute)") from exc


def _storage(redis: Redis, key: str) -> RedisStorage:
    """`limits`' storage on the application's own Redis client: one more pool per adapter
    would be waste. A single server's connection pool is handed over as limits documents.
    A cluster client has a pool per node, which limits cannot take: its cluster storage is
    made, then given our client in place of the one it made (never used, never connected),
    because ours learns the cluster before its first command (shared/bus/connect.py) and
    a fresh redis-py cluster client does not. The moving window's script touches one key,
    so any slot will do. tests/integration/test_redis_cluster.py runs pacing on a cluster.
    """
    if isinstance(redis, RedisCluster):
        node = next(iter(redis.nodes_manager.startup_nodes.values()))
        storage = RedisClusterStorage(
            f"async+redis+cluster://{node.host}:{node.port}",
            implementation="redispy",
            key_prefix=key,
        )
        bridge: Any = storage.bridge
        bridge.storage = redis
        bridge.register_scripts()
        return storage
    return RedisStorage(
        "async+redis://",
        implementation="redispy",
        # limits documents `connection_pool` but types its options as scalars
        connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        key_prefix=key,
    )


class Pacer:
    """One rate (e.g. one Twilio sender) shared through Redis under `key`."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        rate: RateLimitItem,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(_storage(redis, key))
        self.rate = rate
        self._clock = clock

    def _units(self, cost: int) -> int:
        # A message costing more than the whole window could never pass: count it as the
        # full window (so it waits for an empty one) rather than block it for ever.
        return max(1, min(cost, self.rate.amount))

    async def try_acquire(self, cost: int = 1) -> float:
        """Take `cost` units now if the rate allows: 0.0; else the seconds until it might."""
        units = self._units(cost)
        if await self._limiter.hit(self.rate, cost=units):
            return 0.0
        stats = await self._limiter.get_window_stats(self.rate)
        # When the oldest entry leaves the window; never 0 (another worker may be first).
        return max(stats.reset_time - self._clock(), 0.01)

    async def acquire(self, cost: int = 1, *, max_wait_s: float = 2.0) -> float:
        """Take `cost` units, waiting at most `max_wait_s`: 0.0 when taken, else the wait.

        Returning the wait (rather than sleeping on) lets a caller with a backlog reschedule
        the message and free the worker for other channels.
        """
        deadline = self._clock() + max_wait_s
        while True:
            wait = await self.try_acquire(cost)
            if wait == 0.0:
                return 0.0
            left = deadline - self._clock()
            if wait > left:
                return wait
            # A little jitter, so workers that were refused together do not all ask again
            # in the same millisecond.
            await asyncio.sleep(wait + random.uniform(0, 0.02))  # noqa: S311 (jitter)

    async def clear(self) -> None:
        """Forget the history (tests)."""
        await self._limiter.clear(self.rate)


UNCHECKED_RETRY_S = 2.0  # a restarted Redis is back within seconds; an outage waits longer


def unchecked(code: str, what: str, exc: BaseException) -> SendFailed:
    """Redis down or just restarted (a pooled connection is stale): `what` cannot be
    checked, so the provider is not called. Refused as paced, the message is queued again
    without counting an attempt, and goes once Redis answers."""
    return SendFailed(
        FailureKind.RATE_LIMITED,
        f"{code}: {what} cannot be checked (Redis: {type(exc).__name__})",
        code="paced",
        retry_after_s=UNCHECKED_RETRY_S,
    )


class PacedChannel:
    """A channel whose sends first take their cost from a shared `Pacer`.

    A send that cannot get a slot within `max_wait_s` fails as RATE_LIMITED with the wait
    as `retry_after_s` and code "paced": the provider was never called, so the dispatcher
    may reschedule without counting it against the message's attempts.
    """

    def __init__(
        self,
        channel: Channel,
        pacer: Pacer,
        *,
        cost: Callable[[OutboundMessage], int] = lambda _message: 1,
        max_wait_s: float = 2.0,
    ) -> None:
        self.inner = channel
        self.code = channel.code
        self.pacer = pacer
        self._cost = cost
        self._max_wait_s = max_wait_s
        # capabilities_of() and status_callbacks_of() look through `inner` to the adapter.

    async def send(self, message: OutboundMessage) -> SendResult:
        try:
            wait = await self.pacer.acquire(self._cost(message), max_wait_s=self._max_wait_s)
        except (RedisError, OSError) as exc:
            raise unchecked(self.code, "the provider account's rate", exc) from exc
        if wait > 0:
            raise SendFailed(
                FailureKind.RATE_LIMITED,
                f"{self.code}: the provider account's rate ({self.pacer.rate}) is in use",
                code="paced",
                retry_after_s=wait,
            )
        return await self.inner.send(message)

    async def aclose(self) -> None:
        await self.inner.aclose()
