"""The registry of channels, built explicitly at start-up; it refuses duplicates."""

from __future__ import annotations

from collections.abc import Iterable

from shared.channels.base import Channel


class ChannelRegistry:
    def __init__(self, channels: Iterable[Channel] = ()) -> None:
        self._channels: dict[str, Channel] = {}
        for channel in channels:
            self.register(channel)

    def register(self, channel: Channel) -> None:
        if channel.code in self._channels:
            raise ValueError(f"channel {channel.code!r} is registered twice")
        self._channels[channel.code] = channel

    def get(self, code: str) -> Channel | None:
        return self._channels.get(code)

    @property
    def codes(self) -> list[str]:
        return list(self._channels)

    async def aclose(self) -> None:
        for channel in self._channels.values():
            await channel.aclose()
