"""Message types and the wire codec: round trips, versions, and refusals with reasons."""

from __future__ import annotations

import msgspec
import pytest

from shared.bus import DecodeError, decode, encode
from shared.messages import MESSAGE_TYPES, BusProbeSent, Command, Event


def test_a_message_survives_the_wire() -> None:
    message = BusProbeSent(origin="content", note="hello")
    fields = encode(message)
    assert fields["type"] == b"BusProbeSent.v1"
    assert decode(fields) == message
    assert decode({"m": fields["m"].decode()}) == message  # str fields (decode_responses)


def test_names_and_versions() -> None:
    assert BusProbeSent.tag() == "BusProbeSent.v1"
    assert BusProbeSent.name() == "BusProbeSent"  # the stream, shared by all versions
    assert issubclass(BusProbeSent, Event)


def test_every_registered_type_is_a_versioned_command_or_event() -> None:
    tags = [cls.tag() for cls in MESSAGE_TYPES]
    assert len(tags) == len(set(tags))
    for cls in MESSAGE_TYPES:
        assert issubclass(cls, Command | Event)
        assert cls.tag().startswith(cls.__name__ + ".v")
        if issubclass(cls, Event):
            # Events are facts: named in the past tense.
            assert cls.__name__.endswith(("ed", "Sent", "Raised", "Given", "Bound", "Opened"))


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"type": b"x"}, "entry has no 'm' field"),
        ({"m": b"{nope"}, "undecodable payload"),
        ({"m": b'{"type": "BusProbeSent.v9", "origin": "x"}'}, "undecodable payload"),
        ({"m": b'{"type": "BusProbeSent.v1"}'}, "undecodable payload"),  # origin missing
        ({"m": b'{"type": "BusProbeSent.v1", "origin": 5}'}, "undecodable payload"),
    ],
)
def test_bad_payloads_are_refused_with_a_reason(fields: dict[str, bytes], reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(fields)


def test_messages_are_immutable() -> None:
    message = BusProbeSent(origin="content")
    with pytest.raises(AttributeError):
        message.origin = "other"  # type: ignore[misc]
    assert msgspec.json.decode(encode(message)["m"])["id"] == str(message.id)
