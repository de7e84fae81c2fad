"""Answers to patients' messages, sent by the feedback worker as new messages.

No provider's webhook response carries our answer any more: the webhooks only accept
(`inbound_stream.py`), and the worker answers once it has stored the message. An SMS answer
(Twilio, Aliyun, Tencent) goes through the configured SMS adapter (CHANNEL_SMS) as a
message of kind `reply`: Aliyun and Tencent need an approved template of that kind
(ALIYUN_SMS_TEMPLATES / TENCENT_SMS_TEMPLATES, e.g. `{"reply": {"template_code": "SMS_1",
"params": {"text": "text"}}}`). A WeChat answer is a customer-service message (the patient
has just written, so WeChat's 48-hour window is open). How an answer went is written beside
the stored text (`inbound_messages.answer`, shown by GET /feedback): "sent", or "not sent:
<reason>" (`no reply template`, the adapter's safe reason), also counted and logged, never
with the number or the words.
"""

from __future__ import annotations

from prometheus_client import Counter

from shared.channels import Channel, OutboundMessage, SendFailed
from shared.channels.registry import ChannelRegistry
from shared.logging import get_logger

log = get_logger(__name__)

ANSWERS = Counter(
    "mmt_feedback_sms_answers_total",
    "Answers to patients' messages, sent by the feedback worker as new messages, by the "
    "provider that brought the message: sent, or not_sent with the reason (no_template, "
    "configuration, failed).",
    ["vendor", "outcome"],
)
REPLY_KIND = "reply"  # the message kind whose template carries our answers
SENT = "sent"


class Answers:
    """The worker's answering: the channel of the message's channel ("sms", "wechat")."""

    def __init__(self, channels: ChannelRegistry | None, broken: str | None = None) -> None:
        self.channels = channels
        self.broken = broken  # why there are no channels (variable names only: safe to log)

    def _channel(self, channel: str) -> Channel | None:
        return self.channels.get(channel) if self.channels is not None else None

    async def answer(
        self, vendor: str, channel: str, inbound_id: str, address: str, text: str
    ) -> str:
        """Send `text` to `address` as our answer to the inbound message `inbound_id`;
        returns what happened (also counted): "sent" or "not sent: <reason>"."""
        adapter = self._channel(channel)
        if adapter is None:
            return self._not_sent(vendor, inbound_id, "configuration", self.broken or channel)
        message = OutboundMessage(
            message_id=f"reply-{inbound_id}"[:80],
            address=address,
            text=text,
            kind=REPLY_KIND,
            reply_window_open=channel == "wechat",
        )
        try:
            await adapter.send(message)
        except SendFailed as failure:
            if failure.code == "no_template":
                return self._not_sent(vendor, inbound_id, "no_template", "no reply template")
            return self._not_sent(vendor, inbound_id, "failed", failure.reason)
        except Exception as exc:  # an adapter's bug must not leave the answer unrecorded
            return self._not_sent(vendor, inbound_id, "failed", type(exc).__name__)
        ANSWERS.labels(vendor, SENT).inc()
        return SENT

    def _not_sent(self, vendor: str, inbound_id: str, outcome: str, reason: str) -> str:
        ANSWERS.labels(vendor, f"not_sent:{outcome}").inc()
        # The inbound message's id (a provider's id or a keyed hash) and the adapter's
        # reason: no number, no words.
        log.warning("feedback.answer_not_sent", vendor=vendor, inbound=inbound_id, reason=reason)
        return f"not sent: {reason}"[:200]
