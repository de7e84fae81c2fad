"""Reading a provider's push in a route: the guard first, then a capped body.

Shared by the scheduler (receipts) and the feedback service (replies), which may not
import each other. Refusals are HTTP errors in the app's usual JSON form, so a refused push
is answered before anything is read past the cap or stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.exceptions import HTTPException
from litestar.params import PathParameter

from shared.channels.sms_push import PushGuard, PushRefused

Req = Request[Any, Any, Any]
# The secret in a push URL; any text may be tried, only the configured one is read further.
PathToken = Annotated[
    str, PathParameter(max_length=200, description="The secret token set in the vendor console")
]


async def read_capped(request: Req, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(status_code=413, detail=f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status_code=413, detail=f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def refused(exc: PushRefused) -> HTTPException:
    return HTTPException(status_code=exc.status, detail=exc.reason)


async def read_push(request: Req, guard: PushGuard, path_token: str, limit: int) -> bytes:
    """The body of a push that passed `guard`: its token and its sender's address are
    checked before a byte of the body is read."""
    try:
        guard.check(path_token, request.client.host if request.client else None)
    except PushRefused as exc:
        raise refused(exc) from None
    return await read_capped(request, limit)
