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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.handlers import HTTPRouteHandler

from services.scheduler.receipts import RECEIPTS, apply_receipts
from shared.access.web import OPEN
from shared.channels.base import StatusUpdate
from shared.channels.settings import AliyunSmsSettings, ChannelSettings, TencentSmsSettings
from shared.channels.sms_push import (
    ALIYUN_OK,
    TENCENT_OK,
    PushGuard,
    PushRefused,
    aliyun_receipts,
    tencent_receipts,
)
from shared.web_push import PathToken, read_push, refused


@dataclass(frozen=True)
class PushConfig:
    """The guards and the body cap, read once when the app is built."""

    aliyun: PushGuard
    tencent: PushGuard
    max_body_bytes: int

    @classmethod
    def from_environment(cls) -> PushConfig:
        aliyun, tencent = AliyunSmsSettings(), TencentSmsSettings()
        return cls(
            aliyun=PushGuard.of(
                "aliyun",
                "ALIYUN_SMS_PUSH_TOKEN",
                aliyun.aliyun_sms_push_token,
                aliyun.aliyun_sms_push_cidrs,
            ),
            tencent=PushGuard.of(
                "tencent",
                "TENCENT_SMS_PUSH_TOKEN",
                tencent.tencent_sms_push_token,
                tencent.tencent_sms_push_cidrs,
            ),
            max_body_bytes=ChannelSettings().sms_push_max_body_bytes,
        )


def receipt_route(
    vendor: str,
    path: str,
    summary: str,
    parse: Callable[[bytes], list[StatusUpdate]],
    answer: dict[str, Any],
) -> HTTPRouteHandler:
    """The route of one vendor's receipt pushes: guard, read, parse, apply the whole array
    in one transaction, count each item's outcome, answer what the vendor expects."""

    async def receive(
        request: Request[Any, Any, State], state: State, token: PathToken
    ) -> dict[str, Any]:
        config: PushConfig = state.sms_push
        try:
            raw = await read_push(request, getattr(config, vendor), token, config.max_body_bytes)
        except HTTPException:
            RECEIPTS.labels(vendor, "refused").inc()
            raise
        try:
            updates = parse(raw)
        except PushRefused as exc:
            RECEIPTS.labels(vendor, "garbled").inc()
            raise refused(exc) from None
        for outcome in await apply_receipts(state.db, updates, vendor):
            RECEIPTS.labels(vendor, outcome).inc()
        return answer

    receive.__name__ = f"{vendor}_receipts"
    return post(
        path,
        opt=OPEN,
        tags=["webhooks"],
        status_code=200,
        summary=summary,
        raises=[PermissionDeniedException],
    )(receive)


aliyun_report = receipt_route(
    "aliyun",
    "/webhooks/aliyun/{token:str}/report",
    "Aliyun SMS delivery receipts (SmsReport push; the path's token authenticates)",
    aliyun_receipts,
    ALIYUN_OK,
)
tencent_status = receipt_route(
    "tencent",
    "/webhooks/tencent/{token:str}/status",
    "Tencent Cloud SMS status callbacks (the path's token authenticates)",
    tencent_receipts,
    TENCENT_OK,
)
