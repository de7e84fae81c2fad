"""Refuse text no database column can hold, before any handler sees it.

PostgreSQL text cannot contain the NUL character; a NUL in a path, query or body used to
reach a query and come back as a 500. It is refused here once, for every route, with a
400 that says why (found by fuzzing the OpenAPI documents).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from shared.openapi_errors import answers_in_own_type

_NUL_REFUSED = "text may not contain the NUL character (\\u0000)"


def _body_has_nul(body: bytes, content_type: str) -> bool:
    if b"\x00" in body:
        return True
    if "json" in content_type:
        return b"\\u0000" in body  # the only way JSON spells a NUL
    if "x-www-form-urlencoded" in content_type:
        return b"%00" in body
    return False


def _refused(request: Request[Any, Any, Any]) -> Response[Any]:
    handler = request.route_handler
    if answers_in_own_type(handler):  # a page or webhook does not answer JSON
        return Response(_NUL_REFUSED, status_code=400, media_type=handler.media_type)
    return Response({"status_code": 400, "detail": _NUL_REFUSED}, status_code=400)


async def refuse_nul(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """A `before_request` hook: 400 when the path, query or body carries a NUL."""
    query = request.scope["query_string"]
    if "\x00" in request.scope["path"] or b"%00" in query or b"\x00" in query:
        return _refused(request)
    if request.method in {"POST", "PUT", "PATCH"}:
        content_type = request.headers.get("content-type", "").lower()
        if _body_has_nul(await request.body(), content_type):
            return _refused(request)
    return None
