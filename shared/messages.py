"""Every message that crosses the bus, typed and versioned, in one module.

Commands are orders (`SendReminder`), events are facts in the past tense (`ReminderSent`).
The wire tag carries the version (`BusProbeSent.v1`); a breaking change adds a `.v2` class
beside the old one, so consumers can read both while producers move over. Each message
name has its own stream, shared by all its versions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, TypeAlias
from uuid import UUID, uuid4

import msgspec


def _now() -> datetime:
    return datetime.now(UTC)


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every bus message; `id` is what idempotent handlers de-duplicate on."""

    id: UUID = msgspec.field(default_factory=uuid4)
    occurred_at: datetime = msgspec.field(default_factory=_now)

    kind: ClassVar[str] = "message"

    @classmethod
    def tag(cls) -> str:
        """The wire tag, name and version: `BusProbeSent.v1`."""
        return str(cls.__struct_config__.tag)

    @classmethod
    def name(cls) -> str:
        """The message name without its version: it names the stream."""
        return cls.tag().rsplit(".v", 1)[0]


class Command(Message, frozen=True, kw_only=True):
    kind: ClassVar[str] = "command"


class Event(Message, frozen=True, kw_only=True):
    kind: ClassVar[str] = "event"


# --- diagnostics --------------------------------------------------------------------------


class BusProbeSent(Event, frozen=True, kw_only=True, tag="BusProbeSent.v1"):
    """An operator's probe: proves the path outbox -> relay -> stream -> other services."""

    origin: str
    note: str = ""


# Add each new message type here: the decoder only knows what is listed.
AnyMessage: TypeAlias = BusProbeSent
MESSAGE_TYPES: tuple[type[Message], ...] = (BusProbeSent,)
