"""Reading the audit log (writing happens in shared.access.web, once per request)."""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import select

from shared.access.models import ApiToken, AuditEntry, Staff
from shared.db import Database
from shared.errors import InvalidInput


class AuditFilter(msgspec.Struct, kw_only=True):
    token_id: str | None = None
    clinic_id: int | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None  # keyset pagination: pass the last id of the previous page
    limit: int = 100


class AuditOut(msgspec.Struct, kw_only=True):
    id: int
    at: datetime
    service: str
    token_id: str | None
    role: str | None
    method: str
    route: str
    action: str
    status: int
    clinic_id: int | None
    resource_type: str | None
    resource_id: str | None
    # The person, when the token was minted by a console sign-in (shared/access/staff.py).
    staff_login: str | None = None


async def query_audit(db: Database, where: AuditFilter) -> list[AuditOut]:
    if not 1 <= where.limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000")
    query = (
        select(AuditEntry, Staff.login)
        .outerjoin(ApiToken, ApiToken.id == AuditEntry.token_id)
        .outerjoin(Staff, Staff.id == ApiToken.staff_id)
        .order_by(AuditEntry.id.desc())
        .limit(where.limit)
    )
    filters = {
        AuditEntry.token_id: where.token_id,
        AuditEntry.clinic_id: where.clinic_id,
        AuditEntry.resource_type: where.resource_type,
        AuditEntry.resource_id: where.resource_id,
    }
    for column, value in filters.items():
        if value is not None:
            query = query.where(column == value)
    if where.since is not None:
        query = query.where(AuditEntry.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEntry.at < where.until)
    if where.before_id is not None:
        query = query.where(AuditEntry.id < where.before_id)
    async with db.sessions() as session:
        rows = (await session.execute(query)).all()
        return [
            AuditOut(
                id=r.id,
                at=r.at,
                service=r.service,
                token_id=r.token_id,
                role=r.role,
                method=r.method,
                route=r.route,
                action=r.action,
                status=r.status,
                clinic_id=r.clinic_id,
                resource_type=r.resource_type,
                resource_id=r.resource_id,
                staff_login=login,
            )
            for r, login in rows
        ]
