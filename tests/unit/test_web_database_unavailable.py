"""A database that cannot be reached is a 503 with Retry-After (providers and clients retry),
never a 500; a wrong query stays a 500."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, ProgrammingError

from shared.web import _log_unexpected, database_unavailable


def _wrapped(driver_error: BaseException) -> DBAPIError:
    return DBAPIError("SELECT 1", None, driver_error)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error",
    [
        _wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is shutting down")),
        _wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection")),
        _wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")),
        _wrapped(ConnectionRefusedError(111, "Connection refused")),
        ConnectionResetError(104, "reset"),
        DBAPIError("SELECT 1", None, Exception("x"), connection_invalidated=True),  # type: ignore[arg-type]
    ],
)
def test_unreachable_database_is_recognised(error: BaseException) -> None:
    assert database_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        ProgrammingError("SELECT nope", None, Exception("syntax error")),  # type: ignore[arg-type]
        ValueError("a bug"),
        FileNotFoundError("not a database matter"),
    ],
)
def test_other_errors_are_not(error: BaseException) -> None:
    assert not database_unavailable(error)


class _Request:
    class url:  # mimics Request.url
        path = "/api/v1/patients/1"


def test_the_answer_is_503_with_retry_after() -> None:
    request: Any = _Request()
    error = _wrapped(asyncpg.exceptions.CannotConnectNowError("shutting down"))
    response = _log_unexpected(request, error)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert _log_unexpected(request, ValueError("a bug")).status_code == 500
