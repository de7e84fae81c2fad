"""Wire format of a stream entry: {"type": tag, "m": JSON of the whole message}."""

from __future__ import annotations

from typing import Any

import msgspec

from shared.messages import AnyMessage, Message

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyMessage)


class DecodeError(Exception):
    """The entry is not a message this code knows: it goes to dead letters, never retried."""


def encode(message: Message) -> dict[str, bytes]:
    return {"type": message.tag().encode(), "m": _encoder.encode(message)}


def encode_payload(message: Message) -> bytes:
    return _encoder.encode(message)


def decode(fields: dict[Any, Any]) -> Message:
    payload = fields.get(b"m", fields.get("m"))
    if payload is None:
        raise DecodeError("entry has no 'm' field")
    try:
        message: Message = _decoder.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise DecodeError(f"undecodable payload: {exc}") from exc
    return message
