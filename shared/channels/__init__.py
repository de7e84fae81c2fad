"""Channels: one port (`Channel`), one module per vendor, an explicit registry."""

from __future__ import annotations

from shared.channels.base import (
    Channel,
    Delivery,
    OutboundMessage,
    SendFailed,
    SendResult,
)
from shared.channels.registry import ChannelRegistry

__all__ = ["Channel", "ChannelRegistry", "Delivery", "OutboundMessage", "SendFailed", "SendResult"]
