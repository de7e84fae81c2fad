"""Versioned definitions clinics load (risk instruments, assessment questionnaires): stored
once per owner, code and version, each visible to its clinic and the shared ones to all.

An owner is a clinic, or every clinic (`EVERY_CLINIC`, as `mmt risk import` and `mmt
assessment import` load the shipped ones); a clinic's own version of a code is used before
the shared one. Loading the same version again is "unchanged"; a different definition under
an existing version is refused, since what was recorded names its version.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.assessment_models import AssessmentInstrument
from services.scheduler.risk_models import EVERY_CLINIC, RiskInstrument
from shared.access.tokens import Principal
from shared.db import Database
from shared.errors import Conflict, InvalidInput, NotFound
from shared.yaml_problems import DocumentInvalid, Problem, Source

R = TypeVar("R", RiskInstrument, AssessmentInstrument)
D = TypeVar("D")
Out = TypeVar("Out")


def owner_of(row: RiskInstrument | AssessmentInstrument) -> int | None:
    """The owning clinic, None for every clinic."""
    return None if row.owner == EVERY_CLINIC else row.owner


async def store_definition(
    db: Database,
    model: type[R],
    key: tuple[str, int],
    definition: dict[str, Any],
    clinic_id: int | None,
    loaded_by: str,
) -> tuple[R, str]:
    """Keep a validated definition (`key`: its code and version); the row and "loaded" or
    "unchanged"."""
    code, version = key
    owner = EVERY_CLINIC if clinic_id is None else clinic_id
    async with db.transaction() as session:
        row = (
            await session.execute(
                select(model).where(
                    model.owner == owner, model.code == code, model.version == version
                )
            )
        ).scalar_one_or_none()
        if row is not None:
            if row.definition != definition:
                raise Conflict(
                    f"instrument {code!r} version {version} exists with different content: "
                    "give the changed definition a new version"
                )
            return row, "unchanged"
        row = model(
            owner=owner,
            code=code,
            version=version,
            definition=definition,
            loaded_by=loaded_by,
            loaded_at=datetime.now(UTC),
        )
        session.add(row)
    return row, "loaded"


def check_loader(principal: Principal, clinic_id: int | None) -> None:
    """Only admins load for every clinic; others for a clinic of theirs."""
    if clinic_id is None:
        if not principal.all_clinics:
            raise InvalidInput("clinic_id: name your clinic (only admins load for every clinic)")
    elif not principal.can_access_clinic(clinic_id):
        raise NotFound(f"no clinic {clinic_id}")


def visible(model: type[R], principal: Principal, clinic_id: int | None) -> Select[R]:
    """The definitions a principal may see: a clinic's and the shared ones, or all theirs."""
    query = select(model).order_by(model.code, model.owner, model.version)
    if clinic_id is not None:
        if not principal.can_access_clinic(clinic_id):
            raise NotFound(f"no clinic {clinic_id}")
        return query.where(model.owner.in_((EVERY_CLINIC, clinic_id)))
    if not principal.all_clinics:
        return query.where(model.owner.in_((EVERY_CLINIC, *principal.clinic_ids)))
    return query


async def newest_definition(
    session: AsyncSession, model: type[R], clinic_id: int, code: str
) -> dict[str, Any]:
    """The clinic's own newest version of `code`, else the shared one's."""
    row = (
        await session.execute(
            select(model)
            .where(model.code == code, model.owner.in_((EVERY_CLINIC, clinic_id)))
            .order_by(model.owner.desc(), model.version.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if row is None:
        raise InvalidInput(f"instrument: no instrument {code!r} is loaded for this clinic")
    return row.definition


async def load_sent(
    db: Database,
    principal: Principal,
    clinic_id: int | None,
    data: Any,
    validate: Callable[[Any, Source], tuple[D | None, list[Problem]]],
    store: Callable[[Database, D, int | None, str], Awaitable[Out]],
    what: str,
) -> Out:
    """A definition sent to the API: problems name the field (there is no file)."""
    check_loader(principal, clinic_id)
    definition, problems = validate(data, Source())
    if definition is None:
        raise DocumentInvalid(problems, f"{what} refused")
    return await store(db, definition, clinic_id, principal.token_id)


async def list_visible(
    db: Database,
    model: type[R],
    principal: Principal,
    clinic_id: int | None,
    out: Callable[[R], Out],
) -> list[Out]:
    """The definitions a principal may see (`visible`), each as `out` makes it."""
    query = visible(model, principal, clinic_id)
    async with db.sessions() as session:
        return [out(row) for row in (await session.execute(query)).scalars()]
