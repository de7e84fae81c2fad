"""Document in OpenAPI the error answers every route can give, so clients and fuzzers
can rely on the document: a status a route may answer is a status it declares.

The answers come from layers a handler does not see (authentication, policies, the body
limit, the audit, domain errors), so Litestar cannot infer them from the handler.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.enums import MediaType
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
    ValidationException,
)
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import HTTPRoute

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ConflictDocumented(HTTPException):
    status_code = 409
    detail = "Conflict with the current state (a duplicate, or a move not allowed)"


class BodyTooLargeDocumented(HTTPException):
    status_code = 413
    detail = "Request body larger than MAX_BODY_BYTES"


def document_error_responses(app: Litestar) -> None:
    """Add the shared error answers to each handler's `raises` before the schema is built."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/schema"):
            continue
        for handler in route.route_handlers:
            if not handler.include_in_schema:
                continue
            if answers_in_own_type(handler):
                _document_page_or_webhook(handler)
                continue
            answers: list[type[HTTPException]] = [ValidationException, NotFoundException]
            if not handler.opt.get("open"):
                # Token checks, role policies, and the audit entry that must be written.
                answers += [
                    NotAuthorizedException,
                    PermissionDeniedException,
                    ServiceUnavailableException,
                ]
            if handler.http_methods & _WRITES:
                answers += [ConflictDocumented, BodyTooLargeDocumented]
            known = list(handler.raises or [])
            handler.raises = known + [a for a in answers if a not in known]


def answers_in_own_type(handler: HTTPRouteHandler) -> bool:
    """Pages and provider webhooks (open, not JSON) answer errors in their own media type;
    every API route answers errors in JSON, whatever its success type (a YAML export)."""
    # An empty media type means "whatever the returned Response says": JSON by default.
    return bool(handler.opt.get("open")) and handler.media_type not in ("", MediaType.JSON)


def _document_page_or_webhook(handler: HTTPRouteHandler) -> None:
    """Pages and webhooks answer in their own media type and declare their own answers;
    a refused input (`refuse_nul`) answers 400 in that type, an oversize body 413 (JSON)."""
    declared = dict(handler.responses or {})
    for status, description in ((400, "Refused input"), (404, "Nothing there, or not configured")):
        spec = ResponseSpec(str, media_type=handler.media_type, description=description)
        declared.setdefault(status, spec)
    handler.responses = declared
    if handler.http_methods & _WRITES and BodyTooLargeDocumented not in (handler.raises or []):
        handler.raises = [*(handler.raises or []), BodyTooLargeDocumented]
