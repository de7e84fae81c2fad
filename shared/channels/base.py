"""The channel port: what the dispatcher needs of any way to reach a patient.

Adapters know providers; they know nothing of patients, schedules or clinics. They get a
rendered message and an address and say what happened, as a typed result: sent (with the
provider's id), or failed with a kind the dispatcher acts on (retry later, try the next
channel, stop for good because the patient opted out at the provider).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, cast


@dataclass(frozen=True)
class OutboundMessage:
    message_id: str  # ours; providers echo it back in callbacks where they can
    address: str  # phone in E.164, or openid: never logged
    text: str
    kind: str  # dose, lesson, ...: adapters may map it to a template
    fields: dict[str, str] = field(default_factory=dict)  # template fields (WeChat)
    # The caller knows the patient wrote to us recently (WeChat allows free-text customer
    # service messages only within 48 hours of that); adapters without such a window ignore it.
    reply_window_open: bool = False
    # The patient's IANA time zone, when the caller knows it: per-day counts (the SMS daily
    # cap) follow the patient's day; without it, China's.
    time_zone: str | None = None


class Delivery(StrEnum):
    SENT = "sent"  # accepted by the provider; a receipt may follow
    DELIVERED = "delivered"  # the provider says it reached the phone


@dataclass(frozen=True)
class SendResult:
    state: Delivery
    provider_id: str | None = None
    segments: int | None = None  # what the provider bills (SMS segments), when known


@dataclass(frozen=True)
class Capabilities:
    """What an adapter can do, for callers that adapt to it (all optional knowledge)."""

    receipts: bool = False  # a SENT result may later be confirmed by a status callback
    templated: bool = False  # scheduled pushes go through provider-approved templates
    reply_window_hours: int | None = None  # free text only this long after the patient wrote


def _adapters(channel: object) -> list[object]:
    """The channel, then whatever it wraps (`inner`, as PacedChannel does), outermost first."""
    chain = [channel]
    while (inner := getattr(chain[-1], "inner", None)) is not None and len(chain) < 8:
        chain.append(inner)
    return chain


def capabilities_of(channel: object) -> Capabilities:
    """The adapter's `capabilities` (looking through wrappers), or the conservative default."""
    for adapter in _adapters(channel):
        found = getattr(adapter, "capabilities", None)
        if isinstance(found, Capabilities):
            return found
    return Capabilities()


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


class ReceiptState(StrEnum):
    """What a provider's delivery receipt says happened after a SENT result."""

    SENT = "sent"  # left the provider for the carrier
    DELIVERED = "delivered"  # the handset has it
    UNDELIVERED = "undelivered"  # the carrier could not deliver it
    FAILED = "failed"  # the provider never sent it

    @property
    def final(self) -> bool:
        return self is not ReceiptState.SENT


@dataclass(frozen=True)
class StatusUpdate:
    """One parsed delivery receipt: match it to a message by `provider_id`."""

    provider_id: str
    state: ReceiptState
    error_code: str | None = None  # the provider's code for UNDELIVERED/FAILED
    message_id: str | None = None  # ours, when the callback URL carried it


class StatusCallbacks(Protocol):
    """Adapters whose provider reports delivery by calling us back (Twilio).

    The scheduler's webhook route verifies the request with the adapter, then parses it;
    it answers 403 to a bad signature and 200 (ignoring it) when the parse returns None.
    """

    def verify_status_callback(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> bool:
        """True when the request carries the provider's valid signature for `url`."""
        ...

    def parse_status_callback(
        self, params: Mapping[str, str], message_id: str | None = None
    ) -> StatusUpdate | None:
        """The receipt, or None for an intermediate status we need not record.

        `message_id` is the `message_id` query parameter of the callback URL, if any.
        """
        ...


def status_callbacks_of(channel: object) -> StatusCallbacks | None:
    """The adapter behind `channel` that verifies and parses status callbacks, if any."""
    for adapter in _adapters(channel):
        if callable(getattr(adapter, "verify_status_callback", None)) and callable(
            getattr(adapter, "parse_status_callback", None)
        ):
            return cast("StatusCallbacks", adapter)
    return None
