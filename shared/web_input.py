"""Refuse text no database column can hold, before any handler sees it.

PostgreSQL text cannot contain the NUL character; a NUL in a path, query or body used to
reach a query and come back as a 500. It is refused here once, for every route, with a
400 that says why (found by fuzzing the OpenAPI documents).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import ValidationException
from litestar.routes import HTTPRoute

from shared.openapi_errors import answers_in_own_type

NUL_REFUSED = "text may not contain the NUL character (\\u0000)"


def body_has_nul(body: bytes, content_type: str) -> bool:
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
        return Response(NUL_REFUSED, status_code=400, media_type=handler.media_type)
    return Response({"status_code": 400, "detail": NUL_REFUSED}, status_code=400)


def url_has_nul(path: str, query: bytes) -> bool:
    return "\x00" in path or b"%00" in query or b"\x00" in query


async def refuse_nul(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """A `before_request` hook: 400 when the path, query or body carries a NUL."""
    if url_has_nul(request.scope["path"], request.scope["query_string"]):
        return _refused(request)
    if request.method in {"POST", "PUT", "PATCH"}:
        content_type = request.headers.get("content-type", "").lower()
        if body_has_nul(await request.body(), content_type):
            return _refused(request)
    return None


def _allowed_methods(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Each path's methods, from every handler registered on it (built once per app)."""
    app = request.app
    allowed: dict[str, str] | None = app.state.get("allowed_methods")
    if allowed is None:
        allowed = {
            route.path_format: ", ".join(sorted(route.methods))
            for route in app.routes
            if isinstance(route, HTTPRoute)
        }
        app.state.allowed_methods = allowed
    return allowed


def answer_options(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """OPTIONS: 204 with `Allow` listing every method of the path.

    Litestar's own OPTIONS answer lists the methods of the first handler registered on a
    path only (`OPTIONS /api/v1/clinics` said `OPTIONS, POST`, not GET); found by fuzzing.
    """
    if request.method != "OPTIONS":
        return None
    methods = _allowed_methods(request).get(request.scope.get("path_template", ""))
    if methods is None:
        return None
    return Response(None, status_code=204, headers={"Allow": methods}, media_type="text/plain")


_BODY_TYPES: dict[Any, Any] = {}  # by handler (not its id: ids are reused)


def _body_type(request: Request[Any, Any, Any]) -> Any:
    """The msgspec Struct a handler's JSON `data` is, else None (cached per handler)."""
    handler = request.route_handler
    if handler not in _BODY_TYPES:
        found = handler.parsed_fn_signature.parameters.get("data")
        kind = found.type_ if found is not None else None
        wanted = isinstance(kind, type) and issubclass(kind, msgspec.Struct)
        _BODY_TYPES[handler] = kind if wanted else None
    return _BODY_TYPES[handler]


async def refuse_lax_json(request: Request[Any, Any, Any]) -> None:
    """A JSON body is decoded strictly, as its schema says: Litestar converts bodies
    leniently (`0` as `false`, `0` as a date-time: a Unix time); found by fuzzing."""
    if request.method not in {"POST", "PUT", "PATCH"}:
        return
    struct = _body_type(request)
    if struct is None or "json" not in request.headers.get("content-type", "").lower():
        return
    try:
        parsed = msgspec.json.decode(await request.body())
    except msgspec.DecodeError:
        return  # not JSON: Litestar answers that one
    try:
        msgspec.convert(_whole_numbers(parsed), type=struct, strict=True)
    except msgspec.ValidationError as exc:
        message, found, where = str(exc).rpartition(" - at `$")
        key = where.rstrip("`").lstrip(".") if found else "data"
        raise ValidationException(
            detail=f"Validation failed for {request.method} {request.url.path}",
            extra=[{"message": message if found else str(exc), "key": key, "source": "body"}],
        ) from exc


def _whole_numbers(value: Any) -> Any:
    """`1.0` as `1`: JSON Schema's integer includes it (and a float field takes an int)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    return value


async def check_request(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """The app's `before_request` hook: an OPTIONS answer, else the NUL check, then a
    strict reading of a JSON body."""
    refused = answer_options(request) or await refuse_nul(request)
    if refused is None:
        await refuse_lax_json(request)
    return refused
