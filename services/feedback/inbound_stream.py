"""The inbound streams: feedback webhooks append to them, the feedback worker handles them.

A webhook only verifies the provider, reads the few fields it needs and appends one
`InboundReceived` (`accept`): parsing, storing and answering in the request let a morning's
replies queue behind the database. What it appends is sealed: the address and the words
encrypted with the identifier key, the sender recognised by its look-up hash only.

Order per patient. A "1" answering a survey question and the patient's next message must
be handled in the order they came, never at the same time, however many workers run. So
the messages are partitioned by sender: PARTITIONS streams, a sender always on the same one
(a hash of its look-up hash), and each stream read by one worker at a time, in order, under
a lease (`inbound_partitions.py`). Redis gives every entry its arrival order; one reader per
stream keeps it. A per-sender queue in the database was the other way, but it costs the
webhook a database write, which is what this takes away. PARTITIONS is a constant, not a
setting: a webhook and a worker that disagreed on it would break the order.
"""

from __future__ import annotations

from collections.abc import Sequence

from litestar.datastructures import State
from redis.exceptions import RedisError

from shared.bus import BusKeys, Publisher
from shared.bus.codec import encode_payload
from shared.crypto import IdentifierCipher
from shared.group_commit import GroupCommit
from shared.logging import get_logger
from shared.messages import InboundReceived

log = get_logger(__name__)

PARTITIONS = 16  # streams, so at most 16 workers share the load (each one or more streams)
GROUP = "feedback"
# Inbounds of concurrent requests appended by one script call per stream (as receipts are).
APPEND_BATCH = 500


def partition_of(sender_hash: str) -> int:
    """The sender's partition: the look-up hash is hex HMAC, so its head is uniform."""
    return int(sender_hash[:8], 16) % PARTITIONS


def partition_stream(keys: BusKeys, partition: int) -> str:
    return keys.stream(f"{InboundReceived.name()}:p{partition}")


def partition_streams(keys: BusKeys) -> list[str]:
    return [partition_stream(keys, p) for p in range(PARTITIONS)]


def sealed(
    cipher: IdentifierCipher,
    *,
    channel: str,
    provider: str,
    provider_id: str,
    address: str,
    text: str = "",
    event: str | None = None,
    bind_code: str | None = None,
) -> InboundReceived:
    """The message for the stream: address and words encrypted, the sender's hash beside."""
    return InboundReceived(
        channel=channel,
        provider=provider,
        provider_id=provider_id,
        sender_hash=cipher.lookup_hash(address),
        address=cipher.encrypt(address),
        text=cipher.encrypt(text) if text else "",
        event=event,
        bind_code=bind_code,
    )


class NotAccepted(Exception):
    """Redis could not take the message: the webhook answers 503 and the provider retries."""


class InboundAppender:
    """Appends to the partition streams, a script call per stream for many requests."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.commit = GroupCommit(self._write, APPEND_BATCH)

    async def _write(self, messages: Sequence[InboundReceived]) -> None:
        entries: dict[str, list[str | bytes]] = {}
        for message in messages:  # in arrival order: the order of each partition
            stream = partition_stream(self.publisher.keys, partition_of(message.sender_hash))
            entries.setdefault(stream, []).extend((message.tag(), encode_payload(message)))
        await self.publisher.add(entries)

    async def submit(self, message: InboundReceived) -> None:
        await self.commit.submit(message)


def appender(state: State) -> InboundAppender:
    """The app's appender, made on first use (its Redis client is made in the lifespan)."""
    made: InboundAppender | None = getattr(state, "inbound_appender", None)
    if made is None:
        bus = state.settings.bus
        publisher = Publisher(
            state.redis, BusKeys(bus.bus_prefix), stream_maxlen=bus.bus_stream_maxlen
        )
        made = state.inbound_appender = InboundAppender(publisher)
    return made


async def accept(state: State, messages: Sequence[InboundReceived]) -> None:
    """Append and return once Redis has them; NotAccepted if it cannot."""
    try:
        for message in messages:
            await appender(state).submit(message)
    except (RedisError, OSError) as exc:
        log.warning("feedback.inbound_not_accepted", error=type(exc).__name__)
        raise NotAccepted from exc
