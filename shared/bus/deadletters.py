"""Dead letters: list them and put them back on their stream once the cause is fixed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.bus.keys import BusKeys


@dataclass(frozen=True)
class DeadLetter:
    id: str
    stream: str
    entry: str
    group: str
    type: str
    reason: str
    deliveries: int
    at: str


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse(entry_id: Any, fields: dict[Any, Any]) -> DeadLetter:
    get = {_text(k): v for k, v in fields.items()}
    return DeadLetter(
        id=_text(entry_id),
        stream=_text(get.get("stream", "")),
        entry=_text(get.get("entry", "")),
        group=_text(get.get("group", "")),
        type=_text(get.get("type", "")),
        reason=_text(get.get("reason", "")),
        deliveries=int(_text(get.get("deliveries", "0"))),
        at=_text(get.get("at", "")),
    )


async def list_dead_letters(redis: Redis, keys: BusKeys, limit: int = 50) -> list[DeadLetter]:
    """The newest first."""
    entries: Any = await redis.xrevrange(keys.dead_letters, count=limit)
    return [_parse(entry_id, fields) for entry_id, fields in entries]


async def replay_dead_letter(redis: Redis, keys: BusKeys, dead_letter_id: str) -> str:
    """Publish the original payload again on its stream; returns the new entry id.

    Every group on that stream sees it again; those that handled it before skip it by
    message id, so only the group that failed does the work.
    """
    try:
        entries: Any = await redis.xrange(keys.dead_letters, min=dead_letter_id, max=dead_letter_id)
    except ResponseError as exc:  # not a stream id at all
        raise KeyError(dead_letter_id) from exc
    if not entries:
        raise KeyError(dead_letter_id)
    _entry_id, fields = entries[0]
    get = {_text(k): v for k, v in fields.items()}
    pipe = redis.pipeline(transaction=True)
    pipe.xadd(_text(get["stream"]), {"type": get.get("type", b""), "m": get.get("m", b"")})
    pipe.xdel(keys.dead_letters, dead_letter_id)
    new_id, _deleted = await pipe.execute()
    return _text(new_id)


async def trim_stream(
    redis: Redis, stream: str, keep_ms: int, now_ms: int, *, approximate: bool = True
) -> None:
    """Trim what every group has finished with and that is older than `keep_ms`.

    Never trims past an entry still pending or not yet delivered to any group, so a slow
    or crashed consumer loses nothing; a stream with no group is left alone.
    """
    groups = await redis.xinfo_groups(stream)
    if not groups:
        return
    floor = f"{max(now_ms - keep_ms, 0)}-0"
    candidates = [floor]
    for group in groups:
        name = _text(group["name"])
        summary = await redis.xpending(stream, name)
        if summary and summary.get("pending"):
            candidates.append(_text(summary["min"]))
        else:
            last = _text(group["last-delivered-id"])
            major, minor = (int(x) for x in last.split("-"))
            candidates.append(f"{major}-{minor + 1}")
    minid = min(candidates, key=lambda s: tuple(int(x) for x in s.split("-")))
    # Approximate trimming frees whole nodes only, which is cheaper and never goes past minid.
    await redis.xtrim(stream, minid=minid, approximate=approximate)
