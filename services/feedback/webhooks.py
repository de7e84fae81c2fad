"""Inbound webhooks shared parts, and Twilio's inbound SMS.

The routes are open (providers cannot hold our tokens) and authenticated by the provider's
signature instead: a request unsigned or wrongly signed gets 403 and nothing is stored.
Bodies are read up to FEEDBACK_MAX_BODY_BYTES and no further (413). A signed message is
appended to the inbound streams and answered at once (`inbound_stream.py`): the worker
parses, stores and answers it (`inbound_worker.py`). Redis down: 503, the provider retries.
Twilio's inbound SMS, the busiest, is a lean ASGI route (`shared/provider_webhook.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from litestar import Request, Response
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec

from services.feedback.inbound import INBOUND
from services.feedback.inbound_stream import NotAccepted, accept, sealed
from services.feedback.settings import FeedbackSettings
from shared.channels.settings import ChannelSettings, TwilioSettings, WeChatSettings
from shared.channels.twilio_sms import verify_twilio_signature
from shared.crypto import IdentifierCipher
from shared.provider_webhook import Answer, ProviderCall, provider_webhook
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


# Accepted, nothing to say now: the answer goes out as an SMS once the worker has stored it.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _sms_body_limit(state: State) -> int:
    config: WebhookConfig = state.webhooks
    return config.feedback.feedback_max_body_bytes


@provider_webhook(SMS_PATH, body_limit=_sms_body_limit)
async def twilio_sms(call: ProviderCall) -> Answer:
    """Twilio inbound SMS, signed by Twilio: accepted with an empty TwiML and answered by
    SMS from the worker; 400 when the body is not a UTF-8 form or lacks From or MessageSid,
    403 when the signature does not match, 404 when inbound SMS is not configured, 503 when
    the identifier keys are not configured or the bus cannot take it. A lean ASGI route
    (`shared/provider_webhook.py`): patients' replies come by the thousand a minute in a
    national morning."""
    config: WebhookConfig = call.state.webhooks
    if not config.twilio_auth_token or not config.public_url:
        return Answer(404, "inbound SMS is not configured")
    try:
        params = dict(parse_qsl(call.body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return Answer(400, "the body is not a UTF-8 form")
    if not verify_twilio_signature(
        config.twilio_auth_token,
        call.url(config.public_url),
        params,
        call.headers.get("x-twilio-signature"),
        signature_settings=call.headers.get("x-twilio-webhooks-signature-settings"),
    ):
        INBOUND.labels("sms", "bad_signature").inc()
        return Answer(403, "signature does not match")
    sender, sid = params.get("From", "").strip(), params.get("MessageSid") or params.get("SmsSid")
    if not sender or not sid:
        return Answer(400, "an inbound SMS needs From and MessageSid")
    if config.cipher is None:
        return Answer(503, "identifier keys are not configured")
    message = sealed(
        config.cipher,
        channel="sms",
        provider="twilio",
        provider_id=sid,
        address=sender,
        text=params.get("Body", ""),
    )
    try:
        await accept(call.state, [message])
    except NotAccepted:
        return Answer(503, NOT_ACCEPTED)
    return Answer(200, EMPTY_TWIML, media_type="application/xml")
