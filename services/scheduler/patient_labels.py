"""Who a list of patient ids are, by clinic number and display name: what a list of tasks
(or anything else that names patients only by id) shows a coordinator, in one call instead
of a record read per row, and without the record's contact details.

Clinic-scoped like every route: another clinic is a 404; an id not of this clinic is left
out of the answer (as if it did not exist)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy import select

from services.scheduler.api import CARE, DEPENDENCIES
from services.scheduler.models import Patient
from services.scheduler.patients import Scheduler
from shared.access.tokens import Principal
from shared.access.web import policy, principal_of
from shared.errors import InvalidInput, NotFound
from shared.params import MAX_ID, RowId

Req = Request[Any, Any, Any]
MAX_IDS = 200
Ids = Annotated[
    list[int],
    QueryParameter(
        name="id",
        min_items=1,
        max_items=MAX_IDS,
        description=f"Patient ids (1 to {MAX_IDS}): ?id=1&id=2",
    ),
]


class PatientLabel(msgspec.Struct, kw_only=True):
    id: int
    clinic_number: str
    display_name: str


async def patient_labels(
    ctx: Scheduler, principal: Principal, clinic_id: int, ids: list[int]
) -> list[PatientLabel]:
    if not principal.can_access_clinic(clinic_id):
        raise NotFound(f"no clinic {clinic_id}")
    if not 1 <= len(ids) <= MAX_IDS:
        raise InvalidInput(f"id: give 1 to {MAX_IDS} patient ids")
    if any(not 1 <= i <= MAX_ID for i in ids):
        raise InvalidInput(f"id: each id is from 1 to {MAX_ID}")
    query = (
        select(Patient.id, Patient.clinic_number, Patient.display_name)
        .where(Patient.clinic_id == clinic_id, Patient.id.in_(sorted(set(ids))))
        .order_by(Patient.id)
    )
    async with ctx.db.sessions() as session:
        rows = (await session.execute(query)).all()
    return [
        PatientLabel(id=r.id, clinic_number=r.clinic_number, display_name=r.display_name)
        for r in rows
    ]


class PatientLabelController(Controller):
    path = "/clinics/{clinic_id:int}/patient-labels"
    tags = ["patients"]
    dependencies = DEPENDENCIES

    @get(
        "/",
        opt=policy(*CARE, resource="clinic"),
        summary="Clinic numbers and display names of the clinic's patients by id",
    )
    async def labels(
        self, ctx: NamedDependency[Scheduler], request: Req, clinic_id: RowId, ids: Ids
    ) -> list[PatientLabel]:
        return await patient_labels(ctx, principal_of(request), clinic_id, ids)
