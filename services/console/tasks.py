"""Follow-up tasks in the console (issue 22): "My tasks" and the clinic's tasks (overdue
first, due time at the clinic, kind, the patient's clinic number, status; claim and move
the status from the list), and a task's page with its signals and notes, where staff
claim it, move its status, set the outcome and add a note, or give it to a named colleague
(one of the clinic's active coordinators with a staff account) or to nobody.

Another clinic's URL is a 404 before any API call; a task the API does not show this
person, or one of another of their clinics under this clinic's URL, is the same 404. A
refused change shows the task page again with the reason and the note as typed; a refused
assignee (a login the scheduler does not find at the task's clinic) is named beside its
field."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from services.console.api_client import ApiError, ApiNotFound, Clinic
from services.console.care_api import KINDS, OPEN_STATUSES, OUTCOMES, STATUSES, CareApi, Task
from services.console.care_api import TaskDetail as Detail
from services.console.pages import clinic_of, console_of, page, restored_form, signed_in
from services.console.sessions import SessionData
from services.console.task_view import local, task_rows
from shared.access.staff import StaffInfo, clinic_coordinators, get_staff
from shared.params import RowId

Req = Request[Any, Any, Any]
CARE_ROLES = ("admin", "coordinator")  # who may change a task (the scheduler's CARE)


class TaskForm(msgspec.Struct):
    claim: str = ""
    status: str = ""
    outcome: str = ""
    note: str = ""
    next: str = ""  # a list to go back to after a change made from it
    assign: str = ""  # set by the assign form: `assignee` is the whole change
    assignee: str = ""  # a colleague's login; empty: nobody


def care_api(request: Req) -> CareApi:
    return CareApi(console_of(request).api)


def _back(clinic_id: int, target: str) -> str | None:
    # Only this clinic's task lists: never an open redirect.
    allowed = (f"/clinics/{clinic_id}/tasks", f"/clinics/{clinic_id}/tasks/mine")
    path, _, query = target.partition("?")
    return target if path in allowed and "/" not in query and "\\" not in target else None


async def _task(request: Req, session: SessionData, clinic: Clinic, task_id: int) -> Detail:
    try:
        task = await care_api(request).task(session.token, task_id)
    except ApiNotFound:
        raise NotFoundException("no such task") from None
    if task.clinic_id != clinic.id:  # another of this person's clinics: not under this URL
        raise NotFoundException("no such task")
    return task


async def _list(
    request: Req, session: SessionData, clinic: Clinic, mine: bool, status: str
) -> Template:
    here: dict[str, Any] = {"clinic": clinic, "mine": mine, "statuses": STATUSES}
    if status and status not in STATUSES:  # a hand-made URL: say so, ask no API
        return page(
            request, "tasks.html", status_code=400, problem="status", status="", rows=[], **here
        )
    api = care_api(request)
    statuses = [status] if status else list(OPEN_STATUSES)
    found = await asyncio.gather(
        *(api.tasks(session.token, clinic_id=clinic.id, mine=mine, status=s) for s in statuses)
    )
    tasks: list[Task] = [t for part in found for t in part]
    labels = (
        await api.labels(session.token, clinic.id, [t.patient_id for t in tasks]) if tasks else {}
    )
    return page(
        request,
        "tasks.html",
        problem=None,
        status=status,
        rows=task_rows(tasks, labels, clinic.time_zone),
        here=request.url.path + (f"?status={status}" if status else ""),
        **here,
    )


async def _colleagues(request: Req, clinic_id: int, task: Detail) -> list[StaffInfo]:
    """Whom the task may be given to: the clinic's active coordinators, and its present
    assignee if not one of them (an admin), so that the form shows who holds it and saving
    it unchanged does not take it from them."""
    access_db = console_of(request).access_db
    found = await clinic_coordinators(access_db, clinic_id)
    holder = task.assignee_staff_id
    if holder is not None and all(c.id != holder for c in found):
        present = await get_staff(access_db, holder)
        found += [present] if present is not None and not present.disabled else []
    return found


async def _task_page(
    request: Req,
    session: SessionData,
    clinic: Clinic,
    task: Detail,
    *,
    typed: dict[str, str] | None = None,
    problem: str = "",
    assignee_problem: str = "",
    restored: bool = False,
) -> Template:
    labels = await care_api(request).labels(session.token, clinic.id, [task.patient_id])
    # Those who may act on a task (the scheduler's care roles) may give it to someone; a
    # closed task is given to nobody any more.
    may_assign = session.role in CARE_ROLES and task.status in OPEN_STATUSES
    colleagues = await _colleagues(request, clinic.id, task) if may_assign else []
    return page(
        request,
        "task.html",
        status_code=400 if problem or assignee_problem else 200,
        clinic=clinic,
        task=task,
        patient=labels.get(task.patient_id),
        statuses=STATUSES,
        outcomes=OUTCOMES,
        kinds=KINDS,
        local=lambda at: local(at, clinic.time_zone),
        typed=typed or {},
        problem=problem,
        assignee_problem=assignee_problem,
        may_assign=may_assign,
        colleagues=colleagues,
        restored=restored,
    )


def _change(form: TaskForm, task: Detail) -> dict[str, Any]:
    if form.assign:  # the assign form: a login, or nobody
        return {"assignee": form.assignee.strip() or None}
    change: dict[str, Any] = {}
    if form.claim:
        change["claim"] = True
    if form.status and form.status != task.status:
        change["status"] = form.status
    if form.outcome and form.outcome != task.outcome:
        change["outcome"] = form.outcome
    return change


class TaskPages(Controller):
    path = "/clinics/{clinic_id:int}/tasks"

    @get("/")
    async def clinic_tasks(
        self, request: Req, clinic_id: RowId, status: FromQuery[str] = ""
    ) -> Template:
        session = await signed_in(request)
        return await _list(request, session, clinic_of(session, clinic_id), False, status)

    @get("/mine")
    async def my_tasks(
        self, request: Req, clinic_id: RowId, status: FromQuery[str] = ""
    ) -> Template:
        session = await signed_in(request)
        return await _list(request, session, clinic_of(session, clinic_id), True, status)

    @get("/{task_id:int}")
    async def show(self, request: Req, clinic_id: RowId, task_id: RowId) -> Template:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        task = await _task(request, session, clinic, task_id)
        kept = await restored_form(request, session)
        typed = kept.fields if kept else None
        return await _task_page(request, session, clinic, task, typed=typed, restored=bool(kept))

    @post("/{task_id:int}", status_code=303)
    async def change(
        self, request: Req, clinic_id: RowId, task_id: RowId, data: URLEncodedBody[TaskForm]
    ) -> Response[Any]:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        task = await _task(request, session, clinic, task_id)
        api, note = care_api(request), data.note.strip()
        try:
            change = _change(data, task)
            if change:
                await api.update_task(session.token, task.id, change)
            if note:
                await api.add_task_note(session.token, task.id, note, data.outcome or None)
        except ApiError as exc:
            if exc.status not in (400, 409):  # refused as asked: say so on the task's page
                raise
            fresh = await _task(request, session, clinic, task_id)
            typed = msgspec.structs.asdict(data)
            reason = exc.detail or "refused"
            if data.assign and "assignee" in (f.rstrip(":") for f in exc.fields):
                return await _task_page(
                    request, session, clinic, fresh, typed=typed, assignee_problem=reason
                )
            return await _task_page(request, session, clinic, fresh, typed=typed, problem=reason)
        back = _back(clinic.id, data.next)
        return Redirect(back or f"/clinics/{clinic.id}/tasks/{task.id}", status_code=303)
