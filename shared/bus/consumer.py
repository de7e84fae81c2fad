"""A consumer-group reader of Redis Streams: the one place where delivery rules live.

Rules: an entry is acknowledged only after its handler's transaction committed (or after
the inbox showed it was handled before); a failing entry stays pending and is retried when
reclaimed; entries idle past `claim_idle_ms` on any consumer (say one killed with SIGKILL)
are taken over with XAUTOCLAIM; an entry delivered more than `max_deliveries` times, or one
that cannot be decoded, goes to the dead-letter stream with the reason. Handlers only
receive typed messages and a session; they never see Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.bus.codec import DecodeError, decode
from shared.bus.inbox import AlreadyHandled, Inbox
from shared.bus.keys import BusKeys
from shared.logging import get_logger, redact_text
from shared.messages import Message
from shared.metrics import BUS_MESSAGES

log = get_logger(__name__)

# Redis says NOGROUP; fakeredis (the embedded fallback) words a missing stream differently;
# a read blocked while the stream is deleted (FLUSHALL) is answered UNBLOCKED (Redis 7).
_MISSING_GROUP = ("NOGROUP", "requires the key to exist", "UNBLOCKED")


def _group_missing(exc: ResponseError) -> bool:
    return any(marker in str(exc) for marker in _MISSING_GROUP)


Handler = Callable[[Any, AsyncSession], Awaitable[None]]
# Handles many messages of one type in one transaction (a burst of SendMessage commands):
# one commit instead of one per message. The single handler of the type stays the fallback.
BatchHandler = Callable[[list[Any], AsyncSession], Awaitable[None]]


@dataclass(frozen=True)
class StateGuarded:
    """A batch handler that needs no inbox: the state it keeps already makes a second
    delivery of a message change nothing (the dispatcher sends a message only while it is
    open, and says why it skips one that is not). The consumer then neither looks up nor
    writes the batch's processed ids: in a morning burst that was a look-up and a
    200-row INSERT per batch, for nothing the handler did not already guarantee."""

    handle: BatchHandler


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class StreamConsumer:
    def __init__(
        self,
        redis: Redis,
        keys: BusKeys,
        *,
        group: str,
        consumer: str,
        handlers: Mapping[type[Message], Handler],
        inbox: Inbox,
        batch_size: int = 200,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        max_deliveries: int = 5,
        concurrency: int = 1,
        batch_handlers: Mapping[type[Message], BatchHandler | StateGuarded] | None = None,
    ) -> None:
        if not handlers:
            raise ValueError("a consumer needs at least one handler")
        if set(batch_handlers or {}) - set(handlers):
            raise ValueError("a batch handler needs the single handler of its type too")
        self.batch_handlers = dict(batch_handlers or {})
        self.redis = redis
        self.keys = keys
        self.group = group
        self.consumer = consumer
        self.handlers = dict(handlers)
        self.inbox = inbox
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self.concurrency = max(concurrency, 1)
        self.streams = sorted({keys.stream(cls.name()) for cls in handlers})
        self._next_claim = 0.0

    # --- set-up -------------------------------------------------------------------------

    async def ensure_groups(self) -> None:
        for stream in self.streams:
            # Look before creating: cheaper than an error reply on every start, and the
            # embedded fallback server (fakeredis) drops the connection after some errors.
            if await self.redis.exists(stream):
                groups: Any = await self.redis.xinfo_groups(stream)
                if any(_text(group["name"]) == self.group for group in groups):
                    continue
            try:
                # From "0", not "$": a group re-created after Redis lost its data must see
                # what the outbox relays publish again.
                await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # --- the loop -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; survives Redis outages and wipes."""
        backoff = 0.5
        first = True
        while not stop.is_set():
            try:
                if first:
                    await self.ensure_groups()
                    await self.drain_own_pending()
                    first = False
                if time.monotonic() >= self._next_claim:
                    await self.reclaim_once()
                await self.poll_once()
                backoff = 0.5
            except ResponseError as exc:
                # The group vanished between two commands (FLUSHALL right after a start's
                # ensure_groups, or under XPENDING): start again from ensure_groups. This
                # ended the worker once (a chaos run); the reads above recover on their own.
                if not _group_missing(exc):
                    raise
                log.warning("bus.group_missing", group=self.group, action="starting over")
                first = True
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning(
                    "bus.redis_unavailable",
                    group=self.group,
                    error=type(exc).__name__,
                    retry_in_s=backoff,
                )
                first = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                backoff = min(backoff * 2, 10.0)

    async def poll_once(self, block_ms: int | None = None) -> int:
        """Read and handle new entries; returns how many were read."""
        try:
            response: Any = await self.redis.xreadgroup(
                self.group,
                self.consumer,
                dict.fromkeys(self.streams, ">"),
                count=self.batch_size,
                block=self.block_ms if block_ms is None else block_ms,
            )
        except ResponseError as exc:
            await self._recover_missing_group(exc)
            return 0
        work = [
            (_text(stream), _text(entry_id), fields)
            for stream, entries in response or []
            for entry_id, fields in entries
        ]
        count = len(work)
        if self.batch_handlers:
            work = await self._handle_batches(work)
        if self.concurrency == 1:
            for stream, entry_id, fields in work:
                await self._handle(stream, entry_id, fields, deliveries=1)
        else:
            # Entries are independent (each in its own transaction, order not promised by
            # the bus), so a batch is handled concurrently: handlers mostly wait on the
            # database and providers, and one at a time left both idle.
            limit = asyncio.Semaphore(self.concurrency)

            async def one(stream: str, entry_id: str, fields: dict[Any, Any]) -> None:
                async with limit:
                    await self._handle(stream, entry_id, fields, deliveries=1)

            await asyncio.gather(*(one(*item) for item in work))
        return count

    async def _handle_batches(
        self, work: list[tuple[str, str, dict[Any, Any]]]
    ) -> list[tuple[str, str, dict[Any, Any]]]:
        """Handle the entries that have a batch handler; return the others."""
        rest: list[tuple[str, str, dict[Any, Any]]] = []
        batches: dict[tuple[str, type[Message]], list[tuple[str, dict[Any, Any], Message]]] = {}
        for stream, entry_id, fields in work:
            try:
                message = decode(fields)
            except DecodeError:
                rest.append((stream, entry_id, fields))  # dead-lettered on the single path
                continue
            if type(message) in self.batch_handlers:
                batches.setdefault((stream, type(message)), []).append((entry_id, fields, message))
            else:
                rest.append((stream, entry_id, fields))
        for (stream, kind), items in batches.items():
            await self._handle_batch(stream, kind, items)
        return rest

    async def _handle_batch(
        self, stream: str, kind: type[Message], items: list[tuple[str, dict[Any, Any], Message]]
    ) -> None:
        handler = self.batch_handlers[kind]
        messages = [message for _, _, message in items]
        try:
            if isinstance(handler, StateGuarded):
                fresh = list({message.id: message for message in messages}.values())
                async with self.inbox.db.transaction() as session:
                    await handler.handle(fresh, session)
            else:
                async with self.inbox.claim_many(messages) as (session, fresh):
                    if fresh:
                        await handler(fresh, session)
        except Exception as exc:
            # One by one, each in its own transaction: a bad message then fails alone and
            # the usual retry and dead-letter rules apply to it.
            log.warning(
                "bus.batch_failed",
                group=self.group,
                type=kind.tag(),
                size=len(items),
                error=type(exc).__name__,
            )
            for entry_id, fields, _message in items:
                await self._handle(stream, entry_id, fields, deliveries=1)
            return
        entry_ids = [entry_id for entry_id, _, _ in items]
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(stream, self.group, *entry_ids)
        pipe.hdel(self.keys.errors(self.group), *entry_ids)
        await pipe.execute()
        BUS_MESSAGES.labels(self.group, kind.tag(), "handled").inc(len(fresh))
        BUS_MESSAGES.labels(self.group, kind.tag(), "duplicate").inc(len(items) - len(fresh))

    async def drain_own_pending(self) -> int:
        """Handle entries this consumer name read before but never acknowledged."""
        count = 0
        for stream in self.streams:
            response: Any = await self.redis.xreadgroup(
                self.group, self.consumer, {stream: "0"}, count=self.batch_size
            )
            for _name, entries in response or []:
                if not entries:
                    continue
                counts = await self._delivery_counts(stream, entries)
                for entry_id, fields in entries:
                    entry = _text(entry_id)
                    if fields:  # trimmed entries come back empty: nothing left to handle
                        await self._handle(stream, entry, fields, counts.get(entry, 1))
                    else:
                        await self.redis.xack(stream, self.group, entry)
                    count += 1
        return count

    async def reclaim_once(self) -> int:
        """Take over entries idle past the threshold from any consumer, ourselves included."""
        self._next_claim = time.monotonic() + max(self.claim_idle_ms / 2000, 0.05)
        count = 0
        for stream in self.streams:
            try:
                result: Any = await self.redis.xautoclaim(
                    stream,
                    self.group,
                    self.consumer,
                    min_idle_time=self.claim_idle_ms,
                    start_id="0-0",
                    count=self.batch_size,
                )
            except ResponseError as exc:
                await self._recover_missing_group(exc)
                continue
            entries = result[1]
            deleted = result[2] if len(result) > 2 else []
            for entry_id in deleted:  # trimmed away while pending: drop the stale claim
                await self.redis.xack(stream, self.group, entry_id)
            live = [(entry_id, fields) for entry_id, fields in entries if fields]
            if not live:
                continue
            counts = await self._delivery_counts(stream, live)
            for entry_id, fields in live:
                entry = _text(entry_id)
                await self._handle(stream, entry, fields, counts.get(entry, 1))
                count += 1
        return count

    async def _recover_missing_group(self, exc: ResponseError) -> None:
        """Redis lost the group (wiped or restarted empty): re-create it and go on."""
        if not _group_missing(exc):
            raise exc
        log.warning("bus.group_missing", group=self.group, action="re-creating")
        await self.ensure_groups()

    # --- one entry ----------------------------------------------------------------------

    async def _handle(
        self, stream: str, entry_id: str, fields: dict[Any, Any], deliveries: int
    ) -> None:
        try:
            message = decode(fields)
        except DecodeError as exc:
            await self._dead_letter(stream, entry_id, fields, str(exc), deliveries)
            return
        handler = self.handlers.get(type(message))
        if handler is None:
            await self._dead_letter(
                stream,
                entry_id,
                fields,
                f"group {self.group} has no handler for {message.tag()}",
                deliveries,
            )
            return
        if deliveries > self.max_deliveries:
            error = await self.redis.hget(self.keys.errors(self.group), entry_id)
            reason = f"failed {deliveries - 1} deliveries; last error: {_text(error or '-')}"
            await self._dead_letter(stream, entry_id, fields, reason, deliveries)
            return
        try:
            async with self.inbox.claim(message) as session:
                outcome = "duplicate" if session is None else "handled"
                if session is not None:
                    await handler(message, session)
        except AlreadyHandled:
            outcome = "duplicate"  # a racing delivery won; ours was rolled back
        except Exception as exc:
            # Left pending on purpose: reclaim retries it, max_deliveries bounds it.
            error = redact_text(f"{type(exc).__name__}: {exc}")[:500]
            log.warning(
                "bus.handler_failed",
                group=self.group,
                type=message.tag(),
                entry=entry_id,
                deliveries=deliveries,
                error=error,
            )
            pipe = self.redis.pipeline(transaction=False)
            pipe.hset(self.keys.errors(self.group), entry_id, error)
            pipe.expire(self.keys.errors(self.group), 7 * 86_400)
            await pipe.execute()
            BUS_MESSAGES.labels(self.group, message.tag(), "failed").inc()
            return
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(stream, self.group, entry_id)
        pipe.hdel(self.keys.errors(self.group), entry_id)
        await pipe.execute()
        BUS_MESSAGES.labels(self.group, message.tag(), outcome).inc()

    async def _dead_letter(
        self, stream: str, entry_id: str, fields: dict[Any, Any], reason: str, deliveries: int
    ) -> None:
        reason = redact_text(reason)[:1000]
        log.error(
            "bus.dead_letter",
            group=self.group,
            stream=stream,
            entry=entry_id,
            deliveries=deliveries,
            reason=reason,
        )
        payload = fields.get(b"m", fields.get("m", b""))
        tag = fields.get(b"type", fields.get("type", b""))
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(
            self.keys.dead_letters,
            {
                "stream": stream,
                "entry": entry_id,
                "group": self.group,
                "type": tag,
                "reason": reason,
                "deliveries": deliveries,
                "m": payload,
                "at": datetime.now(UTC).isoformat(),
            },
        )
        pipe.xack(stream, self.group, entry_id)
        pipe.hdel(self.keys.errors(self.group), entry_id)
        await pipe.execute()
        BUS_MESSAGES.labels(self.group, _text(tag) or "-", "dead_lettered").inc()

    async def _delivery_counts(self, stream: str, entries: list[Any]) -> dict[str, int]:
        ids = [_text(entry_id) for entry_id, _ in entries]
        pending = await self.redis.xpending_range(
            stream, self.group, min=min(ids), max=max(ids), count=len(ids) * 4
        )
        return {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}
