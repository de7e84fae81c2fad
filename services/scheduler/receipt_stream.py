"""The receipts stream: webhooks append to it, the worker applies from it.

A receipt webhook only verifies, parses and appends (`enqueue`): a morning burst brings
thousands of receipts a second, and applying each in its request (a locked read and an
update) let one API process take about 400 a second (docs/benchmarks.md). The worker reads
the stream in batches (`receipt_worker.py`).

`applied_until` is what the missing-receipt fallback asks before it acts: receipts that
arrived before that moment have all been applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.bus import BusKeys, Publisher
from shared.channels.base import ReceiptState, StatusUpdate
from shared.messages import ReceiptsReceived, ReceiptUpdate

GROUP = "scheduler"  # the scheduler's consumer group applies them


def to_message(provider: str, updates: Sequence[StatusUpdate]) -> ReceiptsReceived:
    return ReceiptsReceived(
        provider=provider,
        receipts=[
            ReceiptUpdate(
                provider_id=u.provider_id,
                state=u.state.value,
                error_code=u.error_code,
                message_id=u.message_id,
            )
            for u in updates
        ],
    )


def updates_of(message: ReceiptsReceived) -> list[StatusUpdate]:
    """The receipts as the rules take them; an unknown state is refused at the webhook, so
    one here is a bug in a producer: it raises, and the entry is dead-lettered."""
    return [
        StatusUpdate(r.provider_id, ReceiptState(r.state), r.error_code, r.message_id)
        for r in message.receipts
    ]


async def enqueue(publisher: Publisher, provider: str, updates: Sequence[StatusUpdate]) -> None:
    """Append one webhook call's receipts to the stream (raises what Redis raised)."""
    if updates:
        await publisher.publish([to_message(provider, updates)])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry_time(entry_id: str) -> datetime:
    return datetime.fromtimestamp(int(entry_id.split("-", 1)[0]) / 1000, UTC)


async def applied_until(redis: Redis, keys: BusKeys, now: datetime) -> datetime:
    """Every receipt that reached the stream before the returned moment has been applied:
    the arrival time of the oldest entry not yet acknowledged (pending in a consumer, or
    not yet read), else `now`. Entry ids are Redis's clock, in milliseconds."""
    stream = keys.stream(ReceiptsReceived.name())
    try:
        groups: Any = await redis.xinfo_groups(stream)
    except ResponseError:  # no stream: nothing waits
        return now
    group = next((g for g in groups if _text(g["name"]) == GROUP), None)
    if group is None:  # no worker has read it yet: everything in it waits
        first: Any = await redis.xrange(stream, count=1)
        return min(now, _entry_time(_text(first[0][0]))) if first else now
    oldest = now
    summary: Any = await redis.xpending(stream, GROUP)
    if summary and summary.get("pending"):
        oldest = min(oldest, _entry_time(_text(summary["min"])))
    unread: Any = await redis.xrange(stream, min=f"({_text(group['last-delivered-id'])}", count=1)
    if unread:
        oldest = min(oldest, _entry_time(_text(unread[0][0])))
    return oldest
