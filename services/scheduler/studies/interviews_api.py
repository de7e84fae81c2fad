"""Routes for choosing interviewees (services.scheduler.studies.interviews): admins only,
since the list names patients; audited like every route."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from services.scheduler.api import DEPENDENCIES
from services.scheduler.patients import Scheduler
from services.scheduler.studies import interviews
from shared.access.tokens import Role
from shared.access.web import policy, principal_of
from shared.params import RowId

Req = Request[Any, Any, Any]


class InterviewController(Controller):
    path = "/studies/{study_id:int}/interviews"
    tags = ["studies"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        opt=policy(Role.ADMIN, resource="study"),
        summary="Choose an arm's interviewees, spread over how much they used the service",
    )
    async def choose(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        study_id: RowId,
        data: JSONBody[interviews.InterviewIn],
    ) -> interviews.InterviewOut:
        return await interviews.select_interviewees(ctx, principal_of(request), study_id, data)

    @get(
        "/{selection_id:int}",
        opt=policy(Role.ADMIN, resource="study"),
        summary="A stored choice of interviewees, with its seed",
    )
    async def shown(
        self, ctx: NamedDependency[Scheduler], study_id: RowId, selection_id: RowId
    ) -> interviews.InterviewOut:
        return await interviews.get_selection(ctx, study_id, selection_id)
