"""What tasks read of staff accounts (the shared `access` schema): a staff member, a
clinic's coordinators, and the label a task keeps, "Name (login)"."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from shared.access.models import Staff
from shared.db import Database


@dataclass(frozen=True)
class Member:
    id: int
    label: str  # "Name (login)", as shared/access/authors.py writes it
    role: str
    clinic_ids: tuple[int, ...]  # empty: every clinic (admin)
    phone_enc: str | None

    def serves(self, clinic_id: int) -> bool:
        return not self.clinic_ids or clinic_id in self.clinic_ids


def _member(row: Staff) -> Member:
    return Member(
        id=row.id,
        label=f"{row.name} ({row.login})"[:100],
        role=row.role,
        clinic_ids=tuple(row.clinic_ids or ()),
        phone_enc=row.phone_enc,
    )


async def member(access_db: Database, staff_id: int) -> Member | None:
    """An enabled staff member, or None."""
    async with access_db.sessions() as session:
        row = await session.get(Staff, staff_id)
    if row is None or row.disabled_at is not None:
        return None
    return _member(row)


async def coordinators(access_db: Database, clinic_id: int) -> list[Member]:
    """The clinic's enabled coordinators with a staff account, by id (round robin's order)."""
    async with access_db.sessions() as session:
        rows = (
            await session.execute(
                select(Staff)
                .where(Staff.role == "coordinator", Staff.disabled_at.is_(None))
                .order_by(Staff.id)
            )
        ).scalars()
        found = [_member(row) for row in rows]
    return [m for m in found if clinic_id in m.clinic_ids]


async def by_login(access_db: Database, login: str) -> Member | None:
    """An enabled staff member by login, or None."""
    async with access_db.sessions() as session:
        row = (
            await session.execute(select(Staff).where(Staff.login == login.strip().lower()))
        ).scalar_one_or_none()
    if row is None or row.disabled_at is not None:
        return None
    return _member(row)


def may_follow_up(found: Member | None, clinic_id: int) -> bool:
    """An admin, or a coordinator of the clinic: who may own a task or lead a clinic."""
    if found is None:
        return False
    return found.role == "admin" or (found.role == "coordinator" and clinic_id in found.clinic_ids)
