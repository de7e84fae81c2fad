"""Reading a provider's push in a route: the guard first, then a capped body.

Shared by the scheduler (receipts) and the feedback service (replies), which may not
import each other. Refusals are HTTP errors in the app's usual JSON form, so a refused push
is answered before anything is read past the cap or stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

from litestar import Request, post
from litestar.datastructures import State
from litestar.exceptions import (
    HTTPException,
    PermissionDeniedException,
    ServiceUnavailableException,
)
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter

from shared.access.web import OPEN
from shared.channels.sms_push import PushGuard, PushRefused, SmsPushConfig

Req = Request[Any, Any, Any]
T = TypeVar("T")
# The secret in a push URL; any text may be tried, only the configured one is read further.
PathToken = Annotated[
    str, PathParameter(max_length=200, description="The secret token set in the vendor console")
]


class BodyTooLarge(Exception):
    """The body passed its limit (the message says which); answered with 413."""


async def collect_capped(chunks: AsyncIterator[bytes], declared: str, limit: int) -> bytes:
    """A body from its chunks, refused (BodyTooLarge) as soon as it passes `limit` bytes, or
    before a byte is read when its Content-Length (`declared`) says it would."""
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body over {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body over {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


async def read_capped(request: Req, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    try:
        return await collect_capped(request.stream(), declared, limit)
    except BodyTooLarge as exc:
        raise HTTPException(status_code=413, detail=str(exc)) from None


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


async def read_items(
    request: Req,
    config: SmsPushConfig,
    vendor: str,
    path_token: str,
    parse: Callable[[bytes], list[T]],
    count: Callable[[str], None],
) -> list[T]:
    """A vendor's push as its parsed items; a refusal (`refused`: token, address, size) or
    a body that is not the vendor's shape (`garbled`) is counted and raised, nothing parsed
    half-way."""
    try:
        raw = await read_push(request, config.guard(vendor), path_token, config.max_body_bytes)
    except HTTPException:
        count("refused")
        raise
    try:
        return parse(raw)
    except PushRefused as exc:
        count("garbled")
        raise refused(exc) from None


def push_route(
    vendor: str,
    path: str,
    summary: str,
    parse: Callable[[bytes], list[T]],
    handle: Callable[[State, str, list[T]], Awaitable[None]],
    count: Callable[[str, str], None],
    answer: dict[str, Any],
) -> HTTPRouteHandler:
    """An open POST route for a vendor's unsigned push (its path token authenticates):
    guarded, read, parsed whole (`count(vendor, "refused" | "garbled")` when not), handed to
    `handle(state, vendor, items)`, answered with what the vendor expects."""

    async def receive(request: Req, state: State, token: PathToken) -> dict[str, Any]:
        def counted(outcome: str) -> None:
            count(vendor, outcome)

        items = await read_items(request, state.sms_push, vendor, token, parse, counted)
        await handle(state, vendor, items)
        return answer

    receive.__name__ = f"{vendor}_{path.rsplit('/', 1)[-1]}"
    return post(
        path,
        opt=OPEN,
        tags=["webhooks"],
        status_code=200,
        summary=summary,
        # 503: what the push needs (the database, or Redis for receipts) is down; the
        # vendors push again later.
        raises=[PermissionDeniedException, ServiceUnavailableException],
    )(receive)
