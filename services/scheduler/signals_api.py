"""The route of a clinic's week of warning signs: a thin handler over signals.py."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from services.scheduler import signals
from services.scheduler.api import CARE, DEPENDENCIES
from services.scheduler.patients import Scheduler
from shared.access.web import policy, principal_of
from shared.params import RowId

Req = Request[Any, Any, Any]
WindowDays = Annotated[
    int, QueryParameter(ge=1, le=31, description="Days before today to count (1-31).")
]


class ClinicSignalsController(Controller):
    path = "/clinics/{clinic_id:int}/signals"
    tags = ["clinics"]
    dependencies = DEPENDENCIES

    @get(
        "/",
        opt=policy(*CARE, resource="clinic"),
        summary="Each active patient's missed days, failed and reached messages, opt-out",
    )
    async def clinic_signals(
        self, ctx: NamedDependency[Scheduler], request: Req, clinic_id: RowId, days: WindowDays = 7
    ) -> signals.ClinicSignals:
        return await signals.clinic_signals(ctx, principal_of(request), clinic_id, days)
