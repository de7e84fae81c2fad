"""Authentication, per-route policies and the audit trail, for every service's app.

- `AuthMiddleware` turns `Authorization: Bearer mmt_...` into a `Principal` (401 with the
  reason otherwise). Open routes (health, metrics, docs, provider webhooks) say so with
  `opt=OPEN` and providers authenticate them by signature instead.
- Every other route declares its roles with `opt=policy(...)`; `enforce_policy`, an
  app-wide guard, refuses other roles (403), and `check_policies` refuses to build an app
  in which any route forgot to declare one.
- `AuditMiddleware` appends one audit entry for every authenticated API request (who,
  which route and resource, the outcome) before the response leaves; if the entry cannot
  be written, the response is withheld and a 503 is sent instead: no unaudited reads.
Clinic scope is enforced by the services, which know which clinic a resource belongs to.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Litestar, Request
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import (
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
    DefineMiddleware,
)
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from shared.access.audit_writer import AuditWriter
from shared.access.tokens import Principal, Role, TokenRejected
from shared.logging import get_logger
from shared.params import MAX_ID

log = get_logger(__name__)

OPEN: dict[str, Any] = {"exclude_from_auth": True, "open": True}
_UNAUTHENTICATED_PATHS = ["^/schema"]  # the OpenAPI documents and their viewers
_ACTIONS = {"GET": "read", "POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
ALL_ROLES = frozenset(Role)


def policy(*roles: Role, resource: str | None = None, person: bool = False) -> dict[str, Any]:
    """A route's access policy: the roles allowed, and what its path id names (for audit).
    `person`: the route is about the signed-in person themselves (their training), so a
    token that names no one (`mmt token create`) is refused by the route with 403."""
    if not roles:
        raise ValueError("a policy names at least one role")
    return {"roles": frozenset(roles), "resource": resource, "person": person}


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    user = request.scope.get("user")
    if not isinstance(user, Principal):  # only reachable if a route skipped the middleware
        raise NotAuthorizedException("not authenticated")
    return user


class AuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization")
        challenge = {"WWW-Authenticate": "Bearer"}
        if not header:
            raise NotAuthorizedException(
                "missing bearer token: send Authorization: Bearer <token>", headers=challenge
            )
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise NotAuthorizedException(
                "use the Bearer scheme: Authorization: Bearer <token>", headers=challenge
            )
        try:
            principal = await connection.app.state.token_verifier.verify(presented.strip())
        except TokenRejected as exc:
            raise NotAuthorizedException(str(exc), headers=challenge) from exc
        return AuthenticationResult(user=principal, auth=principal.token_id)


def auth_middleware() -> DefineMiddleware:
    return DefineMiddleware(AuthMiddleware, exclude=_UNAUTHENTICATED_PATHS)


async def enforce_policy(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    # Async though it never awaits: Litestar runs a sync guard in its thread pool, a
    # thread hand-off per request that cost more than the check (docs/benchmarks.md).
    if handler.opt.get("open") or connection.scope["path"].startswith("/schema"):
        return
    if connection.scope.get("method") == "OPTIONS":  # Litestar's own preflight answers
        return
    roles = handler.opt.get("roles")
    if not roles:  # check_policies makes this unreachable; refuse rather than allow
        raise PermissionDeniedException("this route declares no access policy")
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal) or principal.role not in roles:
        role = principal.role.value if isinstance(principal, Principal) else "anonymous"
        raise PermissionDeniedException(f"role {role} may not use this route")
    # A clinic in the path is checked before anything else runs (bodies included): a
    # coordinator learns nothing about another clinic, not even what it would refuse.
    clinic_id = connection.path_params.get("clinic_id")
    if isinstance(clinic_id, int) and not principal.can_access_clinic(clinic_id):
        raise NotFoundException(f"no clinic {clinic_id}")


def check_policies(app: Litestar) -> None:
    """Refuse to start an app with a route that declares neither a policy nor OPEN."""
    missing = [
        f"{method} {route.path}"
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if not (handler.opt.get("roles") or handler.opt.get("open"))
        and not route.path.startswith("/schema")
        for method in sorted(handler.http_methods - {"OPTIONS"})
    ]
    if missing:
        raise RuntimeError(f"routes without an access policy: {', '.join(missing)}")


class AuditMiddleware:
    """Writes the audit entry when the response starts, before any byte of it is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("user")
        handler = scope.get("route_handler")
        if scope["type"] != ScopeType.HTTP or not isinstance(principal, Principal) or not handler:
            await self.app(scope, receive, send)
            return
        withheld = False

        async def audited_send(message: Message) -> None:
            nonlocal withheld
            if withheld:
                return
            if message["type"] == "http.response.start":
                try:
                    await _write_entry(scope, principal, handler.opt, message["status"])
                except Exception as exc:
                    withheld = True
                    log.error(
                        "audit.write_failed",
                        error=type(exc).__name__,
                        route=scope.get("path_template", ""),
                    )
                    await _send_audit_unavailable(send)
                    return
            await send(message)

        await self.app(scope, receive, audited_send)


async def _write_entry(
    scope: HTTPScope, principal: Principal, opt: dict[str, Any], status: int
) -> None:
    app: Litestar = scope["litestar_app"]
    params: dict[str, Any] = scope.get("path_params", {})
    clinic_id = params.get("clinic_id")
    resource_id = next((str(v) for k, v in params.items() if k != "clinic_id"), None)
    if resource_id is None and clinic_id is not None:
        resource_id = str(clinic_id)
    if resource_id is not None:
        # A caller chooses path text: one longer than the column (no real id is) must not
        # make the entry unwritable, which would withhold the answer as a 503.
        resource_id = resource_id[:64]
    writer: AuditWriter | None = getattr(app.state, "audit_writer", None)
    if writer is None:  # one per app, made on its loop
        writer = app.state.audit_writer = AuditWriter(app.state.access_db)
    await writer.write(
        {
            "at": datetime.now(UTC),
            "service": app.state.definition.name,
            "token_id": principal.token_id,
            "role": principal.role.value,
            "method": scope["method"],
            "route": scope.get("path_template", scope["path"])[:200],
            "action": _ACTIONS.get(scope["method"], "read"),
            "status": status,
            "clinic_id": clinic_id
            if isinstance(clinic_id, int) and 0 < clinic_id <= MAX_ID
            else None,
            "resource_type": opt.get("resource"),
            "resource_id": resource_id,
        }
    )


async def _send_audit_unavailable(send: Send) -> None:
    body = b'{"status_code":503,"detail":"audit log unavailable: request not served"}'
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
