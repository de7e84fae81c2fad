"""Routes for risk assessments and instruments (services.scheduler.risk) and the openings
of patients' record pages (services.scheduler.record_page): thin handlers.

Clinic scope: a patient of another clinic is a 404, as everywhere; every request is
audited by the app-wide audit middleware (who, route, patient, outcome).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from services.scheduler import record_page, risk
from services.scheduler.api import CARE, DEPENDENCIES
from services.scheduler.patients import Scheduler
from shared.access.web import policy, principal_of
from shared.params import QueryRowId, RowId

Req = Request[Any, Any, Any]


class InstrumentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    definition: dict[str, Any]  # the YAML file's content as JSON (risk/README.md)
    clinic_id: int | None = None  # None: for every clinic (admins only)


class RiskAssessmentController(Controller):
    path = "/patients/{patient_id:int}/risk-assessments"
    tags = ["risk"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        opt=policy(*CARE, resource="patient"),
        summary="Record a risk assessment; a rise in band raises a follow-up alert",
    )
    async def record(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        data: JSONBody[risk.AssessmentIn],
    ) -> risk.AssessmentOut:
        return await risk.record_assessment(ctx, principal_of(request), patient_id, data)

    @get("/", opt=policy(*CARE, resource="patient"), summary="A patient's risk assessments")
    async def history(
        self, ctx: NamedDependency[Scheduler], request: Req, patient_id: RowId
    ) -> list[risk.AssessmentOut]:
        return await risk.history(ctx, principal_of(request), patient_id)


class RiskInstrumentController(Controller):
    path = "/risk-instruments"
    tags = ["risk"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        opt=policy(*CARE, resource="risk_instrument"),
        summary="Load a risk instrument definition (refused naming each wrong field)",
    )
    async def load(
        self, ctx: NamedDependency[Scheduler], request: Req, data: JSONBody[InstrumentIn]
    ) -> risk.InstrumentOut:
        return await risk.load_instrument(
            ctx, principal_of(request), data.clinic_id, data.definition
        )

    @get("/", opt=policy(*CARE, resource="risk_instrument"), summary="Instruments a clinic may use")
    async def instruments(
        self, ctx: NamedDependency[Scheduler], request: Req, clinic_id: QueryRowId = None
    ) -> list[risk.InstrumentOut]:
        return await risk.list_instruments(ctx, principal_of(request), clinic_id)


class RecordViewController(Controller):
    path = "/patients/{patient_id:int}/record-views"
    tags = ["risk"]
    dependencies = DEPENDENCIES

    @get(
        "/",
        opt=policy(*CARE, resource="patient"),
        summary="Every opening of the patient's record page links, newest first",
    )
    async def views(
        self, ctx: NamedDependency[Scheduler], request: Req, patient_id: RowId
    ) -> list[record_page.RecordViewOut]:
        return await record_page.list_views(ctx, principal_of(request), patient_id)
