"""Answers to patients' texts that came by Aliyun or Tencent push, sent as SMS.

Twilio takes an answer in its webhook's response (TwiML); Aliyun and Tencent do not: an
answer is a new message, through the configured SMS adapter (CHANNEL_SMS) with an
approved template of kind `reply` (ALIYUN_SMS_TEMPLATES / TENCENT_SMS_TEMPLATES, e.g.
`{"reply": {"template_code": "SMS_1", "params": {"text": "text"}}}`). The patient's text
is stored either way (by the Receiver), and how its answer went is written beside it
(`inbound_messages.answer`, shown by GET /feedback): "sent", or "not sent: <reason>" (`no
reply template`, the adapter's safe reason), also counted and logged, never with the number
or the words. It is sent once per inbound message: a provider's retry of the push is a
duplicate for the Receiver and gets no answer.
"""

from __future__ import annotations

from prometheus_client import Counter
from redis.asyncio import Redis
from sqlalchemy import update

from services.feedback.models import InboundMessage
from shared.channels import Channel, OutboundMessage, SendFailed
from shared.channels.factory import ChannelConfigurationError, build_registry
from shared.channels.registry import ChannelRegistry
from shared.db import Database
from shared.logging import get_logger

log = get_logger(__name__)

ANSWERS = Counter(
    "mmt_feedback_sms_answers_total",
    "Answers to patients' SMS pushed by Aliyun or Tencent, sent as SMS: sent, or not_sent "
    "with the reason (no_template, configuration, failed).",
    ["vendor", "outcome"],
)
REPLY_KIND = "reply"  # the message kind whose template carries our answers


class SmsAnswers:
    """The SMS channel of the feedback service's API, built on the first answer (the app's
    Redis, for pacing and the daily cap, exists only once the app runs)."""

    def __init__(self) -> None:
        self._registry: ChannelRegistry | None = None
        self._broken: str | None = None

    def _channel(self, redis: Redis, key_prefix: str) -> Channel | None:
        if self._registry is None and self._broken is None:
            try:
                self._registry = build_registry(redis, key_prefix=key_prefix)
            except ChannelConfigurationError as exc:
                self._broken = str(exc)  # variable names only: safe to log
        return self._registry.get("sms") if self._registry is not None else None

    async def answer(
        self,
        vendor: str,
        inbound_id: str,
        phone: str,
        text: str | None,
        *,
        redis: Redis,
        key_prefix: str,
    ) -> str | None:
        """Send `text` to `phone` as our answer to the inbound message `inbound_id`;
        returns what happened (also counted): "sent", "not sent: <reason>", or None when
        there is nothing to answer."""
        if not text:
            return None
        channel = self._channel(redis, key_prefix)
        if channel is None:
            return self._not_sent(vendor, inbound_id, "configuration", self._broken or "no sms")
        message = OutboundMessage(
            message_id=f"reply-{inbound_id}", address=phone, text=text, kind=REPLY_KIND
        )
        try:
            await channel.send(message)
        except SendFailed as failure:
            if failure.code == "no_template":
                return self._not_sent(vendor, inbound_id, "no_template", "no reply template")
            return self._not_sent(vendor, inbound_id, "failed", failure.reason)
        ANSWERS.labels(vendor, "sent").inc()
        return "sent"

    def _not_sent(self, vendor: str, inbound_id: str, outcome: str, reason: str) -> str:
        ANSWERS.labels(vendor, f"not_sent:{outcome}").inc()
        # The inbound message's id (a keyed hash) and the adapter's reason: no number, no words.
        log.warning("feedback.answer_not_sent", vendor=vendor, inbound=inbound_id, reason=reason)
        return f"not sent: {reason}"[:200]

    async def aclose(self) -> None:
        if self._registry is not None:
            await self._registry.aclose()
            self._registry = None


async def record_answer(db: Database, inbound_id: str, answer: str) -> None:
    """Write how the answer went beside the stored text (none stored, for a stranger: no-op)."""
    async with db.transaction() as session:
        await session.execute(
            update(InboundMessage)
            .where(InboundMessage.channel == "sms", InboundMessage.provider_id == inbound_id)
            .values(answer=answer)
        )
