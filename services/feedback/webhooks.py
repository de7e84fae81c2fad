"""Inbound webhooks shared parts, and Twilio's inbound SMS.

The routes are open (providers cannot hold our tokens) and authenticated by the provider's
signature instead: a request unsigned or wrongly signed gets 403 and nothing is stored.
Bodies are read up to FEEDBACK_MAX_BODY_BYTES and no further (413). A signed message is
appended to the inbound streams and answered at once (`inbound_stream.py`): the worker
parses, stores and answers it (`inbound_worker.py`). Redis down: 503, the provider retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec

from services.feedback.inbound import INBOUND
from services.feedback.inbound_stream import NotAccepted, accept, sealed
from services.feedback.settings import FeedbackSettings
from shared.access.web import OPEN
from shared.channels.settings import ChannelSettings, TwilioSettings, WeChatSettings
from shared.channels.twilio_sms import verify_twilio_signature
from shared.crypto import IdentifierCipher
from shared.web_push import read_capped as read_capped  # re-exported: the WeChat webhook uses it

Req = Request[Any, Any, State]
SMS_PATH = "/webhooks/twilio/sms"


@dataclass(frozen=True)
class WebhookConfig:
    """What the webhooks need, read once when the app is built."""

    feedback: FeedbackSettings
    public_url: str | None  # FEEDBACK_PUBLIC_URL, else PUBLIC_BASE_URL: what Twilio signs
    twilio_auth_token: str | None
    wechat_app_id: str | None
    cipher: IdentifierCipher | None

    @classmethod
    def from_environment(cls, cipher: IdentifierCipher | None) -> WebhookConfig:
        feedback = FeedbackSettings()
        token = TwilioSettings().twilio_auth_token
        return cls(
            feedback=feedback,
            public_url=ChannelSettings().feedback_url,
            twilio_auth_token=token.get_secret_value() if token else None,
            wechat_app_id=WeChatSettings().wechat_app_id,
            cipher=cipher,
        )


def public_url(base: str, request: Req) -> str:
    query = request.url.query
    return base.rstrip("/") + request.url.path + (f"?{query}" if query else "")


def plain(text: str, status: int) -> Response[str]:
    """An error answer to a provider: words, labelled as such (not JSON)."""
    return Response(text, status_code=status, media_type=MediaType.TEXT)


def refusals(**described: str) -> dict[int, ResponseSpec]:
    """OpenAPI entries for a webhook's plain-text refusals, by status: `_403="..."`."""
    return {
        int(status.lstrip("_")): ResponseSpec(str, media_type=MediaType.TEXT, description=text)
        for status, text in described.items()
    }


NOT_ACCEPTED = "replies cannot be accepted now: the bus is down"


def twiml(text: str | None) -> Response[str]:
    body = f"<Message>{escape(text)}</Message>" if text else ""
    return Response(
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
        media_type="application/xml",
        status_code=200,
    )


@post(
    SMS_PATH,
    opt=OPEN,
    tags=["webhooks"],
    status_code=200,
    summary="Twilio inbound SMS (signed by Twilio); accepted with an empty TwiML, answered "
    "by SMS from the worker",
    media_type=MediaType.XML,
    responses=refusals(
        _400="Not a UTF-8 form, or no From / MessageSid",
        _403="Signature does not match",
        _404="Inbound SMS not configured",
        _503="Identifier keys not configured, or the bus cannot take it",
    ),
)
async def twilio_sms(request: Req, state: State) -> Response[str]:
    config: WebhookConfig = state.webhooks
    if not config.twilio_auth_token or not config.public_url:
        return plain("inbound SMS is not configured", 404)
    raw = await read_capped(request, config.feedback.feedback_max_body_bytes)
    try:
        params = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        return plain("the body is not a UTF-8 form", 400)
    if not verify_twilio_signature(
        config.twilio_auth_token,
        public_url(config.public_url, request),
        params,
        request.headers.get("x-twilio-signature"),
        signature_settings=request.headers.get("x-twilio-webhooks-signature-settings"),
    ):
        INBOUND.labels("sms", "bad_signature").inc()
        return plain("signature does not match", 403)
    sender, sid = params.get("From", "").strip(), params.get("MessageSid") or params.get("SmsSid")
    if not sender or not sid:
        return plain("an inbound SMS needs From and MessageSid", 400)
    if config.cipher is None:
        return plain("identifier keys are not configured", 503)
    message = sealed(
        config.cipher,
        channel="sms",
        provider="twilio",
        provider_id=sid,
        address=sender,
        text=params.get("Body", ""),
    )
    try:
        await accept(state, [message])
    except NotAccepted:
        return plain(NOT_ACCEPTED, 503)
    return twiml(None)  # the answer goes out as an SMS once the worker has stored it
