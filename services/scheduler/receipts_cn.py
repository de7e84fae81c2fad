"""Delivery receipts pushed by Aliyun (SmsReport) and Tencent Cloud SMS (status callback).

Neither vendor signs its pushes, so the route is guarded by a secret token in its path and
an optional list of addresses (`shared.channels.sms_push.PushGuard`): anything else is 403
and nothing is read past the guard. A push is a JSON array; the whole array is applied in
one transaction by the rules of Twilio's receipts (`receipts.apply_receipts`: matched by
our message id or the provider's, a final state never undone, a failure falls back to the
patient's next channel), and each item's outcome is counted. A receipt for a message we do
not know is answered 200 like the rest, so the vendor stops pushing it.
"""

from __future__ import annotations

from litestar.datastructures import State

from services.scheduler.receipts import RECEIPTS, apply_receipts
from shared.channels.base import StatusUpdate
from shared.channels.sms_push import ALIYUN_OK, TENCENT_OK, aliyun_receipts, tencent_receipts
from shared.web_push import push_route


def count(vendor: str, outcome: str) -> None:
    RECEIPTS.labels(vendor, outcome).inc()


async def apply(state: State, vendor: str, updates: list[StatusUpdate]) -> None:
    """The whole array in one transaction; each item's outcome counted."""
    for outcome in await apply_receipts(state.db, updates, vendor):
        count(vendor, outcome)


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
