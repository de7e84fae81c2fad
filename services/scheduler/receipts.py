"""Delivery receipts from providers: move a sent message to delivered or failed.

The route is open (providers cannot hold our tokens) and authenticated by the provider's
signature instead: a request that is unsigned or wrongly signed gets 403 and changes
nothing. A receipt for a message we do not know gets 200, so the provider stops retrying,
and is counted. Receipts can arrive out of order: a final state is never undone.

A failed receipt is treated like a missing one (`sweeps.fall_back_without_receipt`): while
the message's window is open and the patient has a later channel, the message goes back in
the queue for it, with the provider's reason; only when none is left does it fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.models import Message, Outbox, Patient
from shared.access.web import OPEN
from shared.bus import add_to_outbox
from shared.channels.base import ReceiptState, StatusUpdate
from shared.channels.settings import ChannelSettings, TwilioSettings
from shared.channels.twilio_sms import parse_twilio_status, verify_twilio_signature
from shared.db import Database
from shared.messages import SendMessage
from shared.metrics import DELIVERY_RECEIPT_DELAY


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
    "Provider delivery receipts, by outcome.",
    ["provider", "outcome"],
)
_FINAL = ("delivered", "failed", "expired", "opted_out", "suppressed", "skipped")
# A failed receipt with one of these codes ends the message without trying another channel:
# Twilio 21610, the patient replied STOP to us (the domain's rule: never send past an opt-out).
_NO_FALLBACK_CODES = frozenset({"21610"})


async def apply_receipt(
    db: Database, update: StatusUpdate, provider: str, now: datetime | None = None
) -> str:
    """Record a receipt; returns what happened (for the metric). `now` (default: the
    clock) decides whether the message's window is still open for another channel."""
    async with db.transaction() as session:
        return await _apply(session, update, provider, now or datetime.now(UTC))


async def apply_receipts(
    db: Database, updates: Sequence[StatusUpdate], provider: str, now: datetime | None = None
) -> list[str]:
    """A vendor's batch of receipts (Aliyun, Tencent push arrays), in one transaction: each
    by the rules of `apply_receipt`; what happened to each, in order."""
    async with db.transaction() as session:
        return [await _apply(session, u, provider, now or datetime.now(UTC)) for u in updates]


async def _apply(session: AsyncSession, update: StatusUpdate, provider: str, now: datetime) -> str:
    query = select(Message).with_for_update()
    if update.message_id:
        query = query.where(Message.id == update.message_id)
    elif update.provider_id:
        query = query.where(Message.provider_id == update.provider_id)
    else:
        return "unknown_message"  # nothing to match it by
    message = (await session.execute(query)).scalar_one_or_none()
    if message is None or (message.provider_id not in (None, update.provider_id)):
        return "unknown_message"
    if message.state in _FINAL:
        return "already_final"
    if message.state == "sent" and update.state is not ReceiptState.SENT:
        _observe_delay(provider, message.updated_at, now)
    if update.state is ReceiptState.DELIVERED:
        message.state, message.reason = "delivered", None
    elif update.state in (ReceiptState.UNDELIVERED, ReceiptState.FAILED):
        reason = f"{provider} {update.state.value}" + (
            f" (error {update.error_code})" if update.error_code else ""
        )
        later = await _later_channel(session, message, update, now)
        if later is not None:
            message.state, message.reason = "queued", f"{reason}: trying {later}"
            add_to_outbox(session, Outbox, SendMessage(message_id=message.id))
        else:
            message.state, message.reason = "failed", reason
    else:
        message.state = "sent"
    message.provider_id = update.provider_id
    message.updated_at = now
    return update.state.value


def _observe_delay(provider: str, sent_at: datetime, now: datetime) -> None:
    """How long after its send a receipt came (the alert on late receipts reads it)."""
    if sent_at.tzinfo is None:  # SQLite hands back naive UTC
        sent_at = sent_at.replace(tzinfo=UTC)
    DELIVERY_RECEIPT_DELAY.labels(provider).observe(max(0.0, (now - sent_at).total_seconds()))


async def _later_channel(
    session: AsyncSession, message: Message, update: StatusUpdate, now: datetime
) -> str | None:
    """The patient's next channel after the one that failed, if the message may still use it.

    Only a message whose send was recorded (`sent`): its attempt on this channel is then on
    file, so the dispatcher skips that channel on the next try. A receipt that overtakes the
    send's own outcome (`sending`) fails the message as before; the send never undoes it."""
    if message.state != "sent" or message.expires_at <= now:
        return None
    if update.error_code in _NO_FALLBACK_CODES:
        return None
    patient = await session.get(Patient, message.patient_id)
    order = patient.channel_order if patient is not None else []
    if message.channel not in order:
        return None
    later = order[order.index(message.channel) + 1 :]
    return later[0] if later else None


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
    outcome = "ignored" if update is None else await apply_receipt(state.db, update, "twilio")
    RECEIPTS.labels("twilio", outcome).inc()
    return Response("", status_code=200)
