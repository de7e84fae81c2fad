"""Who reads which inbound partition: one worker per stream, under a lease, in order.

Each partition stream (`inbound_stream.py`) is read by whichever worker holds its lease, a
Redis key that worker renews every tick (`tick`, each second). Workers announce themselves
in a sorted set and each holds about its share of the partitions: a second worker takes
half of them as the first lets them go, and a worker that dies loses its leases when they
expire (LEASE_MS), so another takes them over.

The consumer name in the group is the partition's, not the worker's: a new holder reads
first what the partition's consumer read but never acknowledged (the dead holder's batch,
in order), then new entries. That keeps arrival order across a takeover, and it is how a
crashed worker's messages are delivered again (at least once: the handler recognises what
it stored already). A batch that fails is read again from the partition's pending entries,
after a pause that grows; alone, a message failing MAX_DELIVERIES times, or one that cannot
be decoded or opened, goes to the dead letters with its reason, and the partition moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from services.feedback.inbound_gather import LINGER_S, Gather
from services.feedback.inbound_stream import GROUP, PARTITIONS, partition_stream
from services.feedback.inbound_worker import Unreadable
from shared.bus import BusKeys, trim_stream
from shared.bus.codec import DecodeError, decode
from shared.logging import get_logger, redact_text
from shared.messages import InboundReceived

log = get_logger(__name__)

LEASE_MS = 10_000  # a dead worker's partitions wait this long for another
# Handlings at once in one worker (inbound_gather.py). Most of a handling's time is its
# answers, a provider's API call each (100-300 ms): with 4 at once and a provider taking
# 300 ms, 1,000 replies a second were answered 28 s after they stopped coming (`mmt bench
# api --mix replies --answer-latency-ms 300`). Database connections are bounded apart:
# the handler stores at most STORING_AT_ONCE batches at once (inbound_worker.py).
HANDLING_AT_ONCE = 16
MAX_DELIVERIES = 10  # a batch retried with a growing pause: about a minute in all
BATCH = 200
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

Handle = Callable[[Sequence[InboundReceived]], Awaitable[None]]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class PartitionRunner:
    def __init__(
        self,
        redis: Redis,
        keys: BusKeys,
        handle: Handle,
        *,
        worker_id: str,
        block_ms: int = 1000,  # 0: never block (`drain`)
        batch: int = BATCH,
        keep_ms: int = 86_400_000,
        linger_s: float = LINGER_S,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.handle = handle
        self.worker_id = worker_id
        self.block_ms = block_ms
        self.batch = batch
        self.keep_ms = keep_ms
        self.members = f"{keys.tag}:feedback:inbound:workers"
        self._tasks: dict[int, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self.handling = asyncio.Semaphore(HANDLING_AT_ONCE)
        # Partitions' batches handled together (inbound_gather.py); a batch that failed
        # there is handled alone, message by message (`_Reader._handle`).
        self.gathered = Gather(handle, linger_s=linger_s, max_batch=batch, in_flight=self.handling)
        self._next_trim = 0.0

    def _lease(self, partition: int) -> str:
        return f"{self.keys.tag}:feedback:inbound:lease:{partition}"

    @property
    def held(self) -> list[int]:
        return sorted(self._tasks)

    # --- leases (the tick) --------------------------------------------------------------

    async def tick(self) -> None:
        """Renew what is held, let go of more than a share, take free partitions up to it."""
        now_ms = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.members, {self.worker_id: now_ms})
        pipe.zremrangebyscore(self.members, 0, now_ms - LEASE_MS)
        pipe.zcard(self.members)
        _, _, live = await pipe.execute()
        share = math.ceil(PARTITIONS / max(int(live), 1))
        for partition in self.held:
            kept = await self.redis.eval(
                _RENEW, 1, self._lease(partition), self.worker_id, LEASE_MS
            )
            if not kept:  # expired and taken (this worker stalled): stop at once
                log.warning("feedback.inbound_lease_lost", partition=partition)
                await self._stop(partition, release=False)
        for partition in self.held[share:]:
            await self._stop(partition, release=True)
        start = random.randrange(PARTITIONS)  # noqa: S311 - spreads workers, not a secret
        for offset in range(PARTITIONS):
            if len(self._tasks) >= share:
                break
            partition = (start + offset) % PARTITIONS
            if partition in self._tasks:
                continue
            if await self.redis.set(self._lease(partition), self.worker_id, nx=True, px=LEASE_MS):
                stop = asyncio.Event()
                task = asyncio.create_task(self._run(partition, stop))
                self._tasks[partition] = (task, stop)
        if time.monotonic() >= self._next_trim:
            self._next_trim = time.monotonic() + 60
            for partition in self.held:
                with contextlib.suppress(ResponseError):  # no stream yet: nothing to trim
                    await trim_stream(
                        self.redis, partition_stream(self.keys, partition), self.keep_ms, now_ms
                    )

    async def _stop(self, partition: int, *, release: bool) -> None:
        task, stop = self._tasks.pop(partition)
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # it ends after its batch: a stopped read is read again by the next
        if release:
            await self.redis.eval(_RELEASE, 1, self._lease(partition), self.worker_id)

    async def aclose(self) -> None:
        """Every partition told to stop at once; each ends after its batch."""
        for _, stop in self._tasks.values():
            stop.set()
        await asyncio.gather(*(self._stop(p, release=True) for p in self.held))
        await self.redis.zrem(self.members, self.worker_id)

    # --- one partition ------------------------------------------------------------------

    async def _run(self, partition: int, stop: asyncio.Event) -> None:
        stream = partition_stream(self.keys, partition)
        reader = _Reader(self, stream, f"p{partition}")
        pause = 0.5
        while not stop.is_set():
            try:
                await reader.ensure_group()
                if await reader.step():
                    pause = 0.5
                    continue
            except Exception as exc:  # Redis or the database: read again after a pause
                log.warning(
                    "feedback.inbound_failed",
                    partition=partition,
                    error=redact_text(f"{type(exc).__name__}: {exc}")[:300],
                    retry_in_s=pause,
                )
                reader.pending_first = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
                pause = min(pause * 2, 10.0)


class _Reader:
    """Reads one partition as its consumer; pending entries before new ones."""

    def __init__(self, runner: PartitionRunner, stream: str, consumer: str) -> None:
        self.runner = runner
        self.redis = runner.redis
        self.stream = stream
        self.consumer = consumer
        self.pending_first = True  # a previous holder's unacknowledged batch comes first
        self.grouped = False
        self.read = 0  # entries read so far

    async def ensure_group(self) -> None:
        if self.grouped:
            return
        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self.grouped = True

    async def step(self) -> bool:
        """Read and handle one batch; False when there was nothing to read."""
        start = "0" if self.pending_first else ">"
        try:
            response: Any = await self.redis.xreadgroup(
                GROUP,
                self.consumer,
                {self.stream: start},
                count=self.runner.batch,
                # No BLOCK at all for 0: Redis reads BLOCK 0 as "for ever".
                block=None if self.pending_first else (self.runner.block_ms or None),
            )
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                self.grouped = False  # Redis lost it (a wipe): made again on the next step
            raise
        entries = [(_text(i), f) for _, items in response or [] for i, f in items]
        if self.pending_first and not entries:
            self.pending_first = False
            return True
        if not entries:
            return False
        self.read += len(entries)
        live = [(i, f) for i, f in entries if f]  # trimmed while pending: nothing left
        await self._handle(live, deliveries=await self._deliveries(live))
        await self.redis.xack(self.stream, GROUP, *[i for i, _ in entries])
        return True

    async def _handle(self, entries: list[tuple[str, Any]], deliveries: dict[str, int]) -> None:
        messages: list[tuple[str, Any, InboundReceived]] = []
        for entry_id, fields in entries:
            try:
                message = decode(fields)
            except DecodeError as exc:
                await self._dead_letter(entry_id, fields, str(exc), deliveries.get(entry_id, 1))
                continue
            if not isinstance(message, InboundReceived):
                reason = f"not an inbound message: {message.tag()}"
                await self._dead_letter(entry_id, fields, reason, deliveries.get(entry_id, 1))
                continue
            messages.append((entry_id, fields, message))
        if not messages:
            return
        if all(deliveries.get(entry_id, 1) == 1 for entry_id, _, _ in messages):
            try:
                await self.runner.gathered.handle([m for _, _, m in messages])
                return
            except Exception as exc:  # a message at fault then fails alone, below
                log.warning(
                    "feedback.inbound_batch_failed",
                    stream=self.stream,
                    size=len(messages),
                    error=type(exc).__name__,
                )
        for entry_id, fields, message in messages:  # one by one, in order
            count = deliveries.get(entry_id, 1)
            try:
                async with self.runner.handling:
                    await self.runner.handle([message])
            except Unreadable as exc:
                await self._dead_letter(entry_id, fields, str(exc), count)
            except Exception as exc:
                if count < MAX_DELIVERIES:
                    raise  # the batch is read again, from this message, after a pause
                reason = f"failed {count} deliveries; last error: {type(exc).__name__}: {exc}"
                await self._dead_letter(entry_id, fields, reason, count)

    async def _deliveries(self, entries: list[tuple[str, Any]]) -> dict[str, int]:
        if not self.pending_first or not entries:
            return {}
        ids = [i for i, _ in entries]
        pending: Any = await self.redis.xpending_range(
            self.stream, GROUP, min=ids[0], max=ids[-1], count=len(ids) * 4
        )
        return {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}

    async def _dead_letter(self, entry_id: str, fields: Any, reason: str, count: int) -> None:
        reason = redact_text(reason)[:1000]
        log.error("feedback.inbound_dead_letter", stream=self.stream, entry=entry_id, reason=reason)
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(
            self.runner.keys.dead_letters,
            {
                "stream": self.stream,
                "entry": entry_id,
                "group": GROUP,
                "type": fields.get(b"type", fields.get("type", b"")),
                "reason": reason,
                "deliveries": count,
                "m": fields.get(b"m", fields.get("m", b"")),
                "at": datetime.now(UTC).isoformat(),
            },
        )
        pipe.xack(self.stream, GROUP, entry_id)
        await pipe.execute()


async def drain(redis: Redis, keys: BusKeys, handle: Handle) -> int:
    """Handle every message waiting in every partition, in order, without leases: for
    tests and tools while no worker runs. Returns how many entries were read."""
    # Not BLOCK 1: Redis checks blocked reads' timeouts on its server tick (10 a second by
    # default), so an empty partition held each drain 100 ms, 1.6 s for the sixteen.
    runner = PartitionRunner(redis, keys, handle, worker_id="drain", block_ms=0, linger_s=0)
    read = 0
    for partition in range(PARTITIONS):
        reader = _Reader(runner, partition_stream(keys, partition), f"p{partition}")
        await reader.ensure_group()
        while await reader.step():
            pass
        read += reader.read
    return read
