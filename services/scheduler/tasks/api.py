"""The task routes: thin handlers over service.py, clinic_settings.py and report.py.

Researchers have no access: a task names a patient and why they need a call."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, QueryParameter

from services.scheduler.alert_followups import FollowupIn
from services.scheduler.api import CARE, DEPENDENCIES
from services.scheduler.patients import Scheduler
from services.scheduler.tasks import clinic_settings, report, service
from services.scheduler.tasks.rules import Kind, Status
from services.scheduler.tasks.schemas import (
    NoteOut,
    TaskDetail,
    TaskOut,
    TaskPatch,
    TaskSettingsIn,
    TaskSettingsOut,
    TimeToContact,
)
from shared.access.tokens import Role
from shared.access.web import policy, principal_of
from shared.params import INSTANT_FORMAT, Limit, QueryInstant, QueryRowId, RowId, instant

Req = Request[Any, Any, Any]
# `from` is a Python keyword: the parameter is named `from_` and read from `?from=`.
FromInstant = Annotated[
    str | None,
    QueryParameter(name="from", format="date-time", description=f"Period start: {INSTANT_FORMAT}"),
]


class TaskController(Controller):
    path = "/tasks"
    tags = ["tasks"]
    dependencies = DEPENDENCIES

    @get("/", opt=policy(*CARE, resource="task"), summary="Follow-up tasks in the caller's scope")
    async def list_tasks(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        mine: FromQuery[bool] = False,
        clinic_id: QueryRowId = None,
        patient_id: QueryRowId = None,
        status: FromQuery[Status | None] = None,
        kind: FromQuery[Kind | None] = None,
        overdue: FromQuery[bool | None] = None,
        after_id: QueryRowId = None,
        limit: Limit = 100,
    ) -> list[TaskOut]:
        wanted = service.TaskFilter(
            mine=mine,
            clinic_id=clinic_id,
            patient_id=patient_id,
            status=status,
            kind=kind,
            overdue=overdue,
            after_id=after_id,
            limit=limit,
        )
        return await service.list_tasks(ctx, principal_of(request), wanted)

    @get("/{task_id:int}", opt=policy(*CARE, resource="task"), summary="A task, its signals, notes")
    async def get_task(
        self, ctx: NamedDependency[Scheduler], request: Req, task_id: RowId
    ) -> TaskDetail:
        return await service.get_task(ctx, principal_of(request), task_id)

    @patch(
        "/{task_id:int}",
        opt=policy(*CARE, resource="task"),
        summary="Claim, assign, move the status or set the outcome",
    )
    async def update_task(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        task_id: RowId,
        data: JSONBody[TaskPatch],
    ) -> TaskDetail:
        return await service.update_task(ctx, principal_of(request), task_id, data)

    @post(
        "/{task_id:int}/notes",
        opt=policy(*CARE, resource="task"),
        summary="A note on what was done, with an outcome; signed with the writer's name",
    )
    async def add_note(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        task_id: RowId,
        data: JSONBody[FollowupIn],
    ) -> NoteOut:
        return await service.add_note(ctx, principal_of(request), task_id, data)


class ClinicTaskController(Controller):
    path = "/clinics/{clinic_id:int}"
    tags = ["tasks"]
    dependencies = DEPENDENCIES

    @get("/task-settings", opt=policy(*CARE, resource="clinic"), summary="Task settings")
    async def get_settings(
        self, ctx: NamedDependency[Scheduler], request: Req, clinic_id: RowId
    ) -> TaskSettingsOut:
        return await clinic_settings.get_task_settings(ctx, principal_of(request), clinic_id)

    @put(
        "/task-settings",
        opt=policy(Role.ADMIN, resource="clinic"),
        summary="Set due times per kind, the assignment rule and the lead (admins)",
    )
    async def put_settings(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        clinic_id: RowId,
        data: JSONBody[TaskSettingsIn],
    ) -> TaskSettingsOut:
        return await clinic_settings.put_task_settings(ctx, principal_of(request), clinic_id, data)

    @get(
        "/reports/time-to-contact",
        opt=policy(*CARE, resource="clinic"),
        summary="Per kind: tasks, contacted, median and p90 hours from signal to first contact",
    )
    async def time_to_contact(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        clinic_id: RowId,
        from_: FromInstant = None,
        to: QueryInstant = None,
    ) -> TimeToContact:
        return await report.time_to_contact(
            ctx, principal_of(request), clinic_id, instant(from_, "from"), instant(to, "to")
        )
