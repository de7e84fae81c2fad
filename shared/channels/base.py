"""The channel port: what the dispatcher needs of any way to reach a patient.

Adapters know providers; they know nothing of patients, schedules or clinics. They get a
rendered message and an address and say what happened, as a typed result: sent (with the
provider's id), or failed with a kind the dispatcher acts on (retry later, try the next
channel, stop for good because the patient opted out at the provider).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class OutboundMessage:
    message_id: str  # ours; providers echo it back in callbacks where they can
    address: str  # phone in E.164, or openid: never logged
    text: str
    kind: str  # dose, lesson, ...: adapters may map it to a template
    fields: dict[str, str] = field(default_factory=dict)  # template fields (WeChat)


class Delivery(StrEnum):
    SENT = "sent"  # accepted by the provider; a receipt may follow
    DELIVERED = "delivered"  # the provider says it reached the phone


@dataclass(frozen=True)
class SendResult:
    state: Delivery
    provider_id: str | None = None


class FailureKind(StrEnum):
    RETRYABLE = "retryable"  # try this channel again later (5xx, timeouts)
    RATE_LIMITED = "rate_limited"  # slow down; retry after `retry_after_s`
    PERMANENT = "permanent"  # this channel will not work for this message: next channel
    OPTED_OUT = "opted_out"  # the patient unsubscribed at the provider: stop everything


class SendFailed(Exception):
    def __init__(
        self,
        kind: FailureKind,
        reason: str,
        *,
        code: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason  # safe to store and show: no address, no message text
        self.code = code
        self.retry_after_s = retry_after_s


class Channel(Protocol):
    """One way to reach a patient. Implementations: shared/channels/<vendor>.py."""

    code: str  # "console", "sms", "wechat", "webhook"

    async def send(self, message: OutboundMessage) -> SendResult:
        """Hand the message to the provider; raise SendFailed to say why not."""
        ...

    async def aclose(self) -> None:
        """Release connections; called once at shutdown."""
        ...
