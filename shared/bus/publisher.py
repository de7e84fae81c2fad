"""Publishing straight to the streams, for the one writer that has its own fallback.

The outbox is how an event survives a crash between commit and publish: the relay reads
it back and publishes it. For the burst of SendMessage commands the planner releases, that
round trip (write the row, read it back, stamp it) was the largest cost a plain pipeline
does not pay (docs/benchmarks.md), and the messages table already says everything the
outbox would: a message `queued` with no retry time is one that needs a command. So the
planner publishes its commands itself, right after its commit, and a sweep
(`services/scheduler/dispatch.requeue_unsent`) gives a command, through the outbox, to any
queued message the bus has not got: a publish that failed or never happened (a crash
between commit and publish), or a stream Redis lost.

`all_delivered` is what that sweep asks first: while commands wait unread in the stream, a
message queued for a while is only waiting its turn in a burst.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.bus.codec import encode_payload
from shared.bus.keys import BusKeys
from shared.messages import Message

# Streams have no multi-entry XADD. A pipeline of XADDs cost 11 us of this process's CPU
# per entry (redis-py packs and parses every command); one script call per stream, 0.6 us
# (docs/benchmarks.md). ARGV: the MAXLEN, then a type tag and a payload per entry, written
# as the fields `codec.decode` reads.
_XADD_MANY = """
for i = 2, #ARGV, 2 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'type', ARGV[i], 'm', ARGV[i + 1])
end
return (#ARGV - 1) / 2
"""


class Publisher:
    """XADDs messages now, a script call per stream; raises what Redis raised."""

    def __init__(self, redis: Redis, keys: BusKeys, *, stream_maxlen: int = 2_000_000) -> None:
        self.redis = redis
        self.keys = keys
        self.stream_maxlen = stream_maxlen

    async def publish(self, messages: Sequence[Message]) -> None:
        entries: dict[str, list[str | bytes]] = {}
        for message in messages:
            stream = entries.setdefault(self.keys.stream(message.name()), [])
            stream += (message.tag(), encode_payload(message))
        await self.add(entries)

    async def add(self, entries: Mapping[str, Sequence[str | bytes]]) -> None:
        """Append to each stream its (tag, payload, tag, payload, ...) entries, in order."""
        for stream, fields in entries.items():
            if fields:
                # EVAL, not EVALSHA: the script is small beside its arguments, and a server
                # that lost its script cache (restarted) needs no second round trip.
                await self.redis.eval(_XADD_MANY, 1, stream, self.stream_maxlen, *fields)

    async def all_delivered(self, message_type: type[Message], group: str) -> bool:
        """True when `group` has been handed every entry of the type's stream, or when Redis
        holds no such stream or group (it lost them: nothing there will deliver anything)."""
        stream = self.keys.stream(message_type.name())
        try:
            groups: Any = await self.redis.xinfo_groups(stream)
            info: Any = await self.redis.xinfo_stream(stream)
        except ResponseError:  # no such key
            return True
        for entry in groups:
            if _text(entry["name"]) == group:
                return _text(entry["last-delivered-id"]) == _text(info["last-generated-id"])
        return True


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
