"""Delivery receipts pushed by Aliyun (SmsReport) and Tencent Cloud SMS (status callback).

Neither vendor signs its pushes, so the route is guarded by a secret token in its path and
an optional list of addresses (`shared.channels.sms_push.PushGuard`): anything else is 403
and nothing is read past the guard. A push is a JSON array: parsed whole, appended to the
receipts stream as one entry and answered, as Twilio's receipts are (`receipts.accept`);
the worker applies it by the same rules. A receipt for a message we do not know is
answered like the rest, so the vendor stops pushing it. If Redis cannot take the push,
503: the vendor pushes it again later.
"""

from __future__ import annotations

from litestar.datastructures import State
from litestar.exceptions import ServiceUnavailableException

from services.scheduler.receipts import RECEIPTS, NotAccepted, accept
from shared.channels.base import StatusUpdate
from shared.channels.sms_push import ALIYUN_OK, TENCENT_OK, aliyun_receipts, tencent_receipts
from shared.web_push import push_route


def count(vendor: str, outcome: str) -> None:
    RECEIPTS.labels(vendor, outcome).inc()


async def apply(state: State, vendor: str, updates: list[StatusUpdate]) -> None:
    """The whole array onto the receipts stream, as one entry."""
    try:
        await accept(state, vendor, updates)
    except NotAccepted:
        raise ServiceUnavailableException(detail="receipts cannot be accepted now") from None


aliyun_report = push_route(
    "aliyun",
    "/webhooks/aliyun/{token:str}/report",
    "Aliyun SMS delivery receipts (SmsReport push; the path's token authenticates)",
    aliyun_receipts,
    apply,
    count,
    ALIYUN_OK,
)
tencent_status = push_route(
    "tencent",
    "/webhooks/tencent/{token:str}/status",
    "Tencent Cloud SMS status callbacks (the path's token authenticates)",
    tencent_receipts,
    apply,
    count,
    TENCENT_OK,
)
