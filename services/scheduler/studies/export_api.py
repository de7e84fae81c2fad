"""Routes for a study's analysis file, its data dictionary and its flow counts (issue 21
part 3): admins get the patient id, researchers the keyed pseudonym; each of their own
clinics; thin handlers, audited like every route."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency

from services.scheduler.api import DEPENDENCIES
from services.scheduler.patients import Scheduler
from services.scheduler.studies import export
from services.scheduler.studies.flow import FlowOut, flow_counts
from shared.access.tokens import Role
from shared.access.web import policy, principal_of
from shared.params import RowId

Req = Request[Any, Any, Any]
ANALYSTS = policy(Role.ADMIN, Role.RESEARCHER, resource="study")


def _csv(text: str, name: str) -> Response[str]:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


class StudyExportController(Controller):
    path = "/studies/{study_id:int}"
    tags = ["studies"]
    dependencies = DEPENDENCIES

    @get(
        "/export",
        opt=ANALYSTS,
        media_type="text/csv",
        summary="One row per participant and time point reached (long format), as CSV",
    )
    async def export(
        self, ctx: NamedDependency[Scheduler], request: Req, study_id: RowId
    ) -> Response[str]:
        header, rows, _ = await export.export_rows(ctx, principal_of(request), study_id)
        return _csv(export.to_csv(header, rows), f"study-{study_id}.csv")

    @get(
        "/dictionary",
        opt=ANALYSTS,
        media_type="text/csv",
        summary="The export's data dictionary: variable, labels (zh-CN, en), type, unit, values",
    )
    async def dictionary(
        self, ctx: NamedDependency[Scheduler], request: Req, study_id: RowId
    ) -> Response[str]:
        variables = await export.dictionary(ctx, principal_of(request), study_id)
        return _csv(export.dictionary_csv(variables), f"study-{study_id}-dictionary.csv")

    @get(
        "/flow",
        opt=policy(Role.ADMIN, Role.RESEARCHER, Role.COORDINATOR, resource="study"),
        summary="CONSORT-style counts: enrolled, consented, baseline, randomised; by arm",
    )
    async def flow(self, ctx: NamedDependency[Scheduler], request: Req, study_id: RowId) -> FlowOut:
        return await flow_counts(ctx, principal_of(request), study_id)
