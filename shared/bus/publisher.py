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

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.bus.codec import encode_payload
from shared.bus.keys import BusKeys
from shared.messages import Message


def stream_fields(tag: str, payload: bytes) -> dict[Any, Any]:
    """An entry as every publisher writes it and `codec.decode` reads it."""
    return {"type": tag, "m": payload}


class Publisher:
    """XADDs messages now, in one pipeline; raises what Redis raised."""

    def __init__(self, redis: Redis, keys: BusKeys, *, stream_maxlen: int = 2_000_000) -> None:
        self.redis = redis
        self.keys = keys
        self.stream_maxlen = stream_maxlen

    async def publish(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        pipe = self.redis.pipeline(transaction=False)
        for message in messages:
            pipe.xadd(
                self.keys.stream(message.name()),
                stream_fields(message.tag(), encode_payload(message)),
                maxlen=self.stream_maxlen,
                approximate=True,
            )
        await pipe.execute()

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
