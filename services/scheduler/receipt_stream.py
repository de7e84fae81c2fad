"""The receipts stream: webhooks append to it, the worker applies from it.

A receipt webhook only verifies, parses and appends (`enqueue`): a morning burst brings
thousands of receipts a second, and applying each in its request (a locked read and an
update) let one API process take about 400 a second (docs/benchmarks.md). The worker reads
the stream in batches (`receipt_worker.py`).

`applied_until` and `heard_until` are what the missing-receipt fallback asks before it
acts: receipts that arrived before the first moment have all been applied, and receipts
have been applied for messages sent up to the second (per channel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


# Raise a channel's mark only forward: two workers apply batches in any order.
_ADVANCE = """
for i = 1, #ARGV, 2 do
  local current = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > current then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 0
"""


def _heard_key(keys: BusKeys) -> str:
    return f"{keys.tag}:receipts:heard-until"


async def advance_heard_until(
    redis: Redis, keys: BusKeys, sent_at_by_channel: Mapping[str, datetime]
) -> None:
    """Record that receipts came for messages sent up to these moments, by channel."""
    if sent_at_by_channel:
        args: list[str] = []
        for channel, sent_at in sent_at_by_channel.items():
            args += [channel, str(int(sent_at.timestamp() * 1000))]
        await redis.eval(_ADVANCE, 1, _heard_key(keys), *args)


async def heard_until(redis: Redis, keys: BusKeys) -> dict[str, datetime]:
    """By channel, the latest send time of a message whose receipt has been applied.

    Receipts come back roughly in the order of the sends. A message sent at T whose
    receipt is missing while receipts for messages sent after T have been applied has
    most likely lost it; one sent after the latest such moment may only be waiting for
    its receipt somewhere on the way (at the provider, in a starved API, in the stream):
    the fallback should not yet take it for lost (`sweeps.fall_back_without_receipt`)."""
    marks: Any = await redis.hgetall(_heard_key(keys))
    return {
        _text(channel): datetime.fromtimestamp(int(_text(ms)) / 1000, UTC)
        for channel, ms in marks.items()
    }
