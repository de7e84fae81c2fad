"""The Redis Streams bus: outbox relay, consumer groups, dead letters."""

from __future__ import annotations

from shared.bus.codec import DecodeError, decode, encode
from shared.bus.consumer import BatchHandler, Handler, StateGuarded, StreamConsumer
from shared.bus.deadletters import DeadLetter, list_dead_letters, replay_dead_letter, trim_stream
from shared.bus.inbox import Inbox
from shared.bus.keys import BusKeys
from shared.bus.outbox import OutboxRelay, add_to_outbox
from shared.bus.publisher import Publisher
from shared.bus.tables import OutboxMixin, ProcessedMessageMixin

__all__ = [
    "BatchHandler",
    "BusKeys",
    "DeadLetter",
    "DecodeError",
    "Handler",
    "Inbox",
    "OutboxMixin",
    "OutboxRelay",
    "ProcessedMessageMixin",
    "Publisher",
    "StateGuarded",
    "StreamConsumer",
    "add_to_outbox",
    "decode",
    "encode",
    "list_dead_letters",
    "replay_dead_letter",
    "trim_stream",
]
