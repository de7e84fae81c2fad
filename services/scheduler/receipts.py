"""Delivery receipts from providers: accepted here, applied by the worker.

The route is open (providers cannot hold our tokens) and authenticated by the provider's
signature instead: a request that is unsigned or wrongly signed gets 403 and changes
nothing. A signed receipt is parsed (ids and a state, never the number), appended to the
receipts stream (`receipt_stream.enqueue`) and answered 200 at once, whether or not we know
its message, so the provider stops retrying. The worker applies it with the others of its
batch (`receipt_rules.py`: matched by our id or the provider's, a final state never undone,
a failure falling back to the patient's next channel while the window is open). If Redis
cannot take it, 503: nothing is answered as accepted that is not kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import Counter
from redis.exceptions import RedisError

from services.scheduler.receipt_stream import enqueue
from shared.access.web import OPEN
from shared.bus import BusKeys, Publisher
from shared.channels.base import StatusUpdate
from shared.channels.settings import ChannelSettings, TwilioSettings
from shared.channels.twilio_sms import parse_twilio_status, verify_twilio_signature


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


def receipt_publisher(state: State) -> Publisher:
    """The app's publisher onto the receipts stream, made once (its Redis client is made
    in the app's lifespan, after the app)."""
    publisher: Publisher | None = getattr(state, "receipt_publisher", None)
    if publisher is None:
        bus = state.settings.bus
        publisher = Publisher(
            state.redis, BusKeys(bus.bus_prefix), stream_maxlen=bus.bus_stream_maxlen
        )
        state.receipt_publisher = publisher
    return publisher


async def accept(state: State, provider: str, updates: Sequence[StatusUpdate]) -> None:
    """Append one call's receipts to the stream; NotAccepted if Redis cannot take them."""
    try:
        await enqueue(receipt_publisher(state), provider, updates)
    except (RedisError, OSError) as exc:
        RECEIPTS.labels(provider, "not_accepted").inc(len(updates))
        raise NotAccepted from exc
    RECEIPTS.labels(provider, "accepted").inc(len(updates))


@post(
    "/webhooks/twilio/status",
    opt=OPEN,
    tags=["webhooks"],
    status_code=200,
    summary="Twilio message status callback (signed by Twilio)",
    media_type=MediaType.TEXT,  # the answers are plain words, not JSON
    responses={
        403: ResponseSpec(str, media_type=MediaType.TEXT, description="Signature does not match"),
        404: ResponseSpec(str, media_type=MediaType.TEXT, description="Receipts not configured"),
        503: ResponseSpec(str, media_type=MediaType.TEXT, description="The bus cannot take it"),
    },
)
async def twilio_status(request: Request[object, object, State], state: State) -> Response[str]:
    config: ReceiptConfig = state.receipts
    token, base = config.twilio_auth_token, config.public_url
    if token is None or not base:
        return Response("receipts are not configured", status_code=404)
    form = await request.form()
    params: Mapping[str, str] = {key: str(value) for key, value in form.items()}
    url = (
        base.rstrip("/") + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    )
    if not verify_twilio_signature(
        token,
        url,
        params,
        request.headers.get("x-twilio-signature"),
        signature_settings=request.headers.get("x-twilio-webhooks-signature-settings"),
    ):
        RECEIPTS.labels("twilio", "bad_signature").inc()
        return Response("signature does not match", status_code=403)
    try:
        update = parse_twilio_status(params, request.query_params.get("message_id"))
    except ValueError as exc:
        return Response(str(exc), status_code=400)
    if update is None:
        RECEIPTS.labels("twilio", "ignored").inc()
        return Response("", status_code=200)
    try:
        await accept(state, "twilio", [update])
    except NotAccepted:
        return Response("receipts cannot be accepted now: the bus is down", status_code=503)
    return Response("", status_code=200)
