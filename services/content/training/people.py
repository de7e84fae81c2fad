"""The staff who train, read from the shared `access` schema (accounts live there; the
content service only reads them). Staff ids and clinics of the caller come from the
verified token, never from the request."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time

from litestar.exceptions import PermissionDeniedException
from sqlalchemy import select

from services.content.models import TrainingProgramme
from shared.access.models import Clinic, Staff
from shared.access.tokens import Principal, Role
from shared.db import Database
from shared.errors import NotFound


@dataclass(frozen=True)
class Trainee:
    id: int
    role: str
    clinic_ids: tuple[int, ...]
    started_at: datetime  # quiz rounds count from it (`trainees` says how it is found)
    phone_enc: str | None  # encrypted; decrypted only to send a nudge


@dataclass(frozen=True)
class ClinicHours:
    time_zone: str
    opens_at: time
    closes_at: time


def staff_id_of(principal: Principal) -> int:
    """The staff member behind the token; 403 for tokens not minted by a console sign-in."""
    if principal.staff_id is None:
        raise PermissionDeniedException(
            "staff training belongs to a staff account: sign in to the console"
        )
    return principal.staff_id


async def trainees(
    access_db: Database, db: Database, ids: Iterable[int] | None = None
) -> list[Trainee]:
    """Active staff accounts (all, or those of `ids`), by id, each with their training start:
    their clinics' earliest programme start, or their account's creation if later or if
    none of their clinics has one."""
    query = select(Staff).where(Staff.disabled_at.is_(None)).order_by(Staff.id)
    if ids is not None:
        query = query.where(Staff.id.in_(list(ids)))
    async with access_db.sessions() as session:
        rows = (await session.execute(query)).scalars().all()
    async with db.sessions() as session:
        starts = dict(
            (
                await session.execute(
                    select(TrainingProgramme.clinic_id, TrainingProgramme.starts_at)
                )
            ).all()
        )
    found = []
    for r in rows:
        programme = [starts[c] for c in r.clinic_ids if c in starts]
        started = max(r.created_at, min(programme)) if programme else r.created_at
        found.append(Trainee(r.id, r.role, tuple(r.clinic_ids), started, r.phone_enc))
    return found


async def trainee(access_db: Database, db: Database, principal: Principal) -> Trainee:
    staff_id = staff_id_of(principal)
    found = await trainees(access_db, db, [staff_id])
    if not found:
        raise NotFound("no active staff account for this token")
    return found[0]


def of_clinic(people: Iterable[Trainee], clinic_id: int) -> list[Trainee]:
    """A clinic's training staff: its coordinators (admins belong to no clinic)."""
    return [p for p in people if p.role == Role.COORDINATOR.value and clinic_id in p.clinic_ids]


async def clinic_hours(access_db: Database) -> dict[int, ClinicHours]:
    async with access_db.sessions() as session:
        rows = await session.execute(
            select(Clinic.id, Clinic.time_zone, Clinic.opens_at, Clinic.closes_at)
        )
        return {r.id: ClinicHours(r.time_zone, r.opens_at, r.closes_at) for r in rows}


async def visible_clinics(
    access_db: Database, principal: Principal, clinic_id: int | None
) -> list[int]:
    """The clinics a report covers: the one asked for (404 if the caller may not see it or
    it does not exist), else every clinic the caller may see."""
    async with access_db.sessions() as session:
        known = list((await session.execute(select(Clinic.id).order_by(Clinic.id))).scalars())
    allowed = [
        c for c in known if principal.role is not Role.COORDINATOR or c in principal.clinic_ids
    ]
    if clinic_id is None:
        return allowed
    if clinic_id not in allowed:
        raise NotFound(f"no clinic {clinic_id}")
    return [clinic_id]
