"""Patients' texts pushed by Aliyun (SmsUp) and Tencent Cloud SMS (reply callback).

Neither vendor signs its pushes: the route is guarded by a secret token in its path and an
optional address allow-list (`shared.channels.sms_push.PushGuard`); anything else is 403
and nothing is kept. A guarded push is appended to the inbound streams as Twilio's texts
are and answered with the vendor's documented success body; the worker parses each text
with the same grammar (digits rate, 退订 / TD / T / R opt out, 帮助, urgent words raise a
need), stores it and answers it by SMS through the configured adapter (`sms_answers`). A
retry of the same push is recognised by the message's key (Aliyun's sequence_id; Tencent's
sender, time and text), kept only as a keyed hash: stored once, answered once; how the
answer went is stored beside the text (`answer`: "sent" or "not sent: <reason>").
"""

from __future__ import annotations

from litestar.datastructures import State
from litestar.exceptions import HTTPException

from services.feedback.inbound import INBOUND
from services.feedback.inbound_stream import NotAccepted, accept, sealed
from services.feedback.webhooks import NOT_ACCEPTED, WebhookConfig
from shared.channels.sms_push import (
    ALIYUN_OK,
    TENCENT_OK,
    PushedReply,
    aliyun_replies,
    tencent_replies,
)
from shared.web_push import push_route


def count(_vendor: str, outcome: str) -> None:
    INBOUND.labels("sms", outcome).inc()


async def receive(state: State, vendor: str, replies: list[PushedReply]) -> None:
    """Each text appended to the inbound streams, in the push's order."""
    config: WebhookConfig = state.webhooks
    cipher = config.cipher
    if cipher is None:
        raise HTTPException(status_code=503, detail="identifier keys are not configured")
    messages = [
        sealed(
            cipher,
            channel="sms",
            provider=vendor,
            provider_id=f"{vendor}:{cipher.lookup_hash(reply.key)[:40]}",
            address=reply.phone,
            text=reply.text,
        )
        for reply in replies
    ]
    try:
        await accept(state, messages)
    except NotAccepted:
        raise HTTPException(status_code=503, detail=NOT_ACCEPTED) from None


aliyun_up = push_route(
    "aliyun",
    "/webhooks/aliyun/{token:str}/up",
    "Aliyun SMS replies (SmsUp push; the path's token authenticates); answered by SMS later",
    aliyun_replies,
    receive,
    count,
    ALIYUN_OK,
)
tencent_reply = push_route(
    "tencent",
    "/webhooks/tencent/{token:str}/reply",
    "Tencent Cloud SMS reply callbacks (the path's token authenticates); answered by SMS later",
    tencent_replies,
    receive,
    count,
    TENCENT_OK,
)
