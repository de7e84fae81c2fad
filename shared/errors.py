"""Domain errors with the HTTP status they mean; services raise them, the app maps them.

Keeps handlers thin: a service says *what* is wrong, in words a coordinator can act on,
and the web layer turns it into `{"status_code", "detail"}` once, for every route.
"""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400


class InvalidInput(DomainError, ValueError):
    """Input a caller can fix; the message says how."""

    status_code = 400


class NotFound(DomainError, LookupError):
    """No such thing, or not one the caller may see (existence is not revealed)."""

    status_code = 404


class Unavailable(DomainError):
    """Something the request needs is not configured or not reachable right now."""

    status_code = 503


class Conflict(DomainError):
    """The request clashes with what exists (a duplicate code, a stale state)."""

    status_code = 409
