"""Channels: one port (`Channel`), one module per vendor, an explicit registry.

Vendors' modules (twilio_sms, wechat, webhook) and `factory.build_registry` are imported
where needed, not here, so importing the port costs no SDK.
"""

from __future__ import annotations

from shared.channels.base import (
    Capabilities,
    Channel,
    Delivery,
    FailureKind,
    OutboundMessage,
    ReceiptState,
    SendFailed,
    SendResult,
    StatusCallbacks,
    StatusUpdate,
    capabilities_of,
    status_callbacks_of,
)
from shared.channels.registry import ChannelRegistry

__all__ = [
    "Capabilities",
    "Channel",
    "ChannelRegistry",
    "Delivery",
    "FailureKind",
    "OutboundMessage",
    "ReceiptState",
    "SendFailed",
    "SendResult",
    "StatusCallbacks",
    "StatusUpdate",
    "capabilities_of",
    "status_callbacks_of",
]
