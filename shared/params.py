"""Bounded request parameters: an id or a count out of range is a 400 with the reason,
never a database error (a 500) or an out-of-range value reaching SQL."""

from __future__ import annotations

from typing import Annotated

from litestar.params import PathParameter, QueryParameter

MAX_ID = 2**31 - 1  # ids are INTEGER in some tables (clinic ids in the audit log)

RowId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
QueryRowId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]
Limit = Annotated[int, QueryParameter(ge=1, le=1000)]
Days = Annotated[int, QueryParameter(ge=1, le=366)]
