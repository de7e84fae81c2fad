"""Routes for the printed handouts a patient was given (services.scheduler.handouts): thin
handlers, clinic-scoped (another clinic's patient is a 404) and audited like every route."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from services.scheduler import handouts
from services.scheduler.api import CARE, DEPENDENCIES
from services.scheduler.patients import Scheduler
from shared.access.web import policy, principal_of
from shared.params import RowId

Req = Request[Any, Any, Any]


class HandoutController(Controller):
    path = "/patients/{patient_id:int}/handouts"
    tags = ["studies"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        opt=policy(*CARE, resource="patient"),
        summary="Record a printed lesson handout given to the patient (201; 200 if already)",
    )
    async def give(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        data: JSONBody[handouts.HandoutIn],
    ) -> Response[handouts.HandoutOut]:
        given = await handouts.record_handout(ctx, principal_of(request), patient_id, data)
        return Response(given, status_code=200 if given.already_recorded else 201)

    @get("/", opt=policy(*CARE, resource="patient"), summary="The handouts a patient was given")
    async def given(
        self, ctx: NamedDependency[Scheduler], request: Req, patient_id: RowId
    ) -> list[handouts.HandoutOut]:
        return await handouts.handouts_of(ctx, principal_of(request), patient_id)
