"""The development channel: records what would be sent and logs it (redacted).

It is the default so a newcomer sees the whole flow with no credentials. It keeps the
last messages in memory for inspection and answers as a provider that delivered at once.
"""

from __future__ import annotations

from collections import deque

from shared.channels.base import Delivery, OutboundMessage, SendResult
from shared.logging import get_logger

log = get_logger(__name__)


class ConsoleChannel:
    def __init__(self, code: str = "console", keep: int = 1000) -> None:
        self.code = code
        self.sent: deque[OutboundMessage] = deque(maxlen=keep)

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        # Never the address or the text (even redacted): the message id and kind are enough to
        # follow a reminder through the logs.
        log.info(
            "channel.console.sent",
            channel=self.code,
            message_id=message.message_id,
            kind=message.kind,
            chars=len(message.text),
        )
        return SendResult(Delivery.DELIVERED, provider_id=f"console-{message.message_id}")

    async def aclose(self) -> None:
        return None
