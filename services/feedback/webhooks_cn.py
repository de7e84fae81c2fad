"""Patients' texts pushed by Aliyun (SmsUp) and Tencent Cloud SMS (reply callback).

They go through the same Receiver and grammar as Twilio's inbound SMS (digits rate, 退订 /
TD / T / R opt out, 帮助, urgent words raise a need). Neither vendor signs its pushes: the
route is guarded by a secret token in its path and an optional address allow-list
(`shared.channels.sms_push.PushGuard`); anything else is 403 and nothing is stored. Neither
vendor takes an answer in the response either, so the Receiver's answer goes out as an SMS
through the configured adapter (`sms_answers`), after the message is stored. A retry of the
same push is recognised by the message's key (Aliyun's sequence_id; Tencent's sender, time
and text), stored only as a keyed hash: stored once, answered once; how the answer went is
stored beside the text (`answer`: "sent" or "not sent: <reason>").
"""

from __future__ import annotations

from litestar.datastructures import State
from litestar.exceptions import HTTPException

from services.feedback.inbound import INBOUND, Inbound
from services.feedback.sms_answers import SmsAnswers, record_answer
from services.feedback.webhooks import WebhookConfig, receiver
from shared.channels.sms_push import (
    ALIYUN_OK,
    TENCENT_OK,
    PushedReply,
    aliyun_replies,
    tencent_replies,
)
from shared.settings import Settings
from shared.web_push import push_route


def count(_vendor: str, outcome: str) -> None:
    INBOUND.labels("sms", outcome).inc()


async def receive(state: State, vendor: str, replies: list[PushedReply]) -> None:
    """Each text through the Receiver (stored once, however often it is pushed), then its
    answer, if any, sent by SMS."""
    config: WebhookConfig = state.webhooks
    if config.cipher is None:
        raise HTTPException(status_code=503, detail="identifier keys are not configured")
    settings: Settings = state.settings
    answers: SmsAnswers = state.sms_answers
    for reply in replies:
        provider_id = f"{vendor}:{config.cipher.lookup_hash(reply.key)[:40]}"
        outcome = await receiver(state).receive(
            Inbound(
                channel="sms",
                provider_id=provider_id,
                sender_hash=config.cipher.lookup_hash(reply.phone),
                text=reply.text,
            )
        )
        said = await answers.answer(
            vendor,
            provider_id,
            reply.phone,
            outcome.reply,
            redis=state.redis,
            key_prefix=settings.bus.bus_prefix,
        )
        if said is not None:
            await record_answer(state.db, provider_id, said)


aliyun_up = push_route(
    "aliyun",
    "/webhooks/aliyun/{token:str}/up",
    "Aliyun SMS replies (SmsUp push; the path's token authenticates); answered by SMS",
    aliyun_replies,
    receive,
    count,
    ALIYUN_OK,
)
tencent_reply = push_route(
    "tencent",
    "/webhooks/tencent/{token:str}/reply",
    "Tencent Cloud SMS reply callbacks (the path's token authenticates); answered by SMS",
    tencent_replies,
    receive,
    count,
    TENCENT_OK,
)
