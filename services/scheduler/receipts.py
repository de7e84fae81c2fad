"""Delivery receipts from providers: accepted here, applied by the worker.

The route is open (providers cannot hold our tokens) and authenticated by the provider's
signature instead: a request that is unsigned or wrongly signed gets 403 and changes
nothing. A signed receipt is parsed (ids and a state, never the number), appended to the
receipts stream (`receipt_stream.enqueue`) and answered 200 at once, whether or not we know
its message, so the provider stops retrying. The worker applies it with the others of its
batch (`receipt_rules.py`: matched by our id or the provider's, a final state never undone,
a failure falling back to the patient's next channel while the window is open). If Redis
cannot take it, 503: nothing is answered as accepted that is not kept.

Twilio's callback is the busiest route of a morning (one for every message): it is served
as a lean ASGI route (`shared/provider_webhook.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from litestar.datastructures import State
from prometheus_client import Counter
from redis.exceptions import RedisError

from services.scheduler.receipt_stream import to_message
from shared.bus import BusKeys, Publisher
from shared.channels.base import StatusUpdate
from shared.channels.settings import ChannelSettings, TwilioSettings
from shared.channels.twilio_sms import parse_twilio_status, verify_twilio_signature
from shared.group_commit import GroupCommit
from shared.logging import get_logger
from shared.messages import ReceiptsReceived
from shared.provider_webhook import Answer, ProviderCall, provider_webhook

log = get_logger(__name__)
STATUS_PATH = "/webhooks/twilio/status"


@dataclass(frozen=True)
class ReceiptConfig:
    """What the receipt route needs, read once when the app is built. Read per request,
    the settings (pydantic-settings parses the environment each time) were 45 % of a
    callback's handling, more than its database work (docs/benchmarks.md)."""

    twilio_auth_token: str | None
    public_url: str | None  # SCHEDULER_PUBLIC_URL, else PUBLIC_BASE_URL: what Twilio signed

    @classmethod
    def from_environment(cls) -> ReceiptConfig:
        token = TwilioSettings().twilio_auth_token
        return cls(token.get_secret_value() if token else None, ChannelSettings().scheduler_url)


RECEIPTS = Counter(
    "mmt_delivery_receipts_total",
    "Provider delivery receipts, by outcome: `accepted` at the webhook, then what applying "
    "them did (`delivered`, `already_final`, `unknown_message`, ...).",
    ["provider", "outcome"],
)


class NotAccepted(Exception):
    """The bus could not take the receipts: the route answers 503."""


# Receipts of concurrent requests appended by one script call: an XADD per request needed
# a Redis connection per request in flight, and at 1,000 a second the pool ran out.
APPEND_BATCH = 500


def receipt_appender(state: State) -> GroupCommit[ReceiptsReceived]:
    """The app's appender onto the receipts stream, made once (its Redis client is made in
    the app's lifespan, after the app)."""
    appender: GroupCommit[ReceiptsReceived] | None = getattr(state, "receipt_appender", None)
    if appender is None:
        bus = state.settings.bus
        publisher = Publisher(
            state.redis, BusKeys(bus.bus_prefix), stream_maxlen=bus.bus_stream_maxlen
        )
        appender = state.receipt_appender = GroupCommit(publisher.publish, APPEND_BATCH)
    return appender


async def accept(state: State, provider: str, updates: Sequence[StatusUpdate]) -> None:
    """Append one call's receipts to the stream, as one entry, and return once Redis has
    it; NotAccepted if Redis cannot take it."""
    try:
        await receipt_appender(state).submit(to_message(provider, updates))
    except (RedisError, OSError) as exc:
        log.warning("receipts.not_accepted", provider=provider, error=type(exc).__name__)
        RECEIPTS.labels(provider, "not_accepted").inc(len(updates))
        raise NotAccepted from exc
    RECEIPTS.labels(provider, "accepted").inc(len(updates))


@provider_webhook(STATUS_PATH)
async def twilio_status(call: ProviderCall) -> Answer:
    """Twilio message status callback, signed by Twilio: 200 once the receipt is on the
    stream (or changes nothing), 400 without MessageSid or MessageStatus, 403 when the
    signature does not match, 404 when receipts are not configured, 503 when the bus
    cannot take it."""
    config: ReceiptConfig = call.state.receipts
    token, base = config.twilio_auth_token, config.public_url
    if token is None or not base:
        return Answer(404, "receipts are not configured")
    # Twilio posts a URL-encoded form; anything else fails the signature.
    params = dict(parse_qsl(call.body.decode("utf-8", errors="replace"), keep_blank_values=True))
    if not verify_twilio_signature(
        token,
        call.url(base),
        params,
        call.headers.get("x-twilio-signature"),
        signature_settings=call.headers.get("x-twilio-webhooks-signature-settings"),
    ):
        RECEIPTS.labels("twilio", "bad_signature").inc()
        return Answer(403, "signature does not match")
    try:
        update = parse_twilio_status(params, call.query("message_id"))
    except ValueError as exc:
        return Answer(400, str(exc))
    if update is None:
        RECEIPTS.labels("twilio", "ignored").inc()
        return Answer(200)
    try:
        await accept(call.state, "twilio", [update])
    except NotAccepted:
        return Answer(503, "receipts cannot be accepted now: the bus is down")
    return Answer(200)
