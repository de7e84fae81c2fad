"""A need's page: the patient's words, its status and follow-up notes, and a form to move
it along with a note (the feedback API's PATCH and notes routes). What the person typed is
never dropped: a refused change shows the form again with the note as typed."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template

from services.console.api_client import ApiError, ApiNotFound, Clinic, Need
from services.console.pages import clinic_of, console_of, page, restored_form, signed_in
from services.console.programme_api import ProgrammeApi
from services.console.sessions import SessionData
from shared.params import RowId

Req = Request[Any, Any, Any]
STATUSES = ("new", "in_progress", "resolved")


class NeedForm(msgspec.Struct):
    status: str = ""
    note: str = ""
    assignee: str | None = None  # None: the form had no such field (unchanged)


async def _need(request: Req, data: SessionData, clinic: Clinic, need_id: int) -> Need:
    try:
        need = await console_of(request).api.need(data.token, need_id)
    except ApiNotFound:
        raise NotFoundException("no such need") from None
    if need.clinic_id != clinic.id:  # another of this person's clinics: not under this URL
        raise NotFoundException("no such need")
    return need


def _need_page(
    request: Req,
    clinic: Clinic,
    need: Need,
    *,
    note: str = "",
    problem: str | None = None,
    assignee: str | None = None,
    restored: bool = False,
) -> Template:
    return page(
        request,
        "need.html",
        status_code=400 if problem else 200,
        clinic=clinic,
        need=need,
        statuses=STATUSES,
        note=note,
        problem=problem,
        assignee=(need.assignee or "") if assignee is None else assignee,
        restored=restored,
    )


class _AssigneeRefused(ApiError):
    """The API refused the login typed as the need's assignee."""


async def _assign(api: ProgrammeApi, token: str, need_id: int, login: str | None) -> None:
    try:
        await api.assign_need(token, need_id, login)
    except ApiError as exc:
        if exc.status != 400:
            raise
        raise _AssigneeRefused("assignee refused", 400) from None


class NeedPages(Controller):
    path = "/clinics/{clinic_id:int}/needs"

    @get("/{need_id:int}")
    async def show(self, request: Req, clinic_id: RowId, need_id: RowId) -> Template:
        data = await signed_in(request)
        clinic = clinic_of(data, clinic_id)
        need = await _need(request, data, clinic, need_id)
        kept = await restored_form(request, data)
        if kept is None:
            return _need_page(request, clinic, need)
        typed = kept.fields
        return _need_page(
            request,
            clinic,
            need,
            note=typed.get("note", ""),
            assignee=typed.get("assignee"),
            restored=True,
        )

    @post("/{need_id:int}", status_code=303)
    async def follow_up(
        self, request: Req, clinic_id: RowId, need_id: RowId, data: URLEncodedBody[NeedForm]
    ) -> Response[Any]:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        need = await _need(request, session, clinic, need_id)
        api, note = console_of(request).api, data.note.strip()
        assignee = None if data.assignee is None else data.assignee.strip().lower()
        try:
            if assignee is not None and assignee != (need.assignee or ""):
                await _assign(ProgrammeApi(api), session.token, need_id, assignee or None)
            if data.status and data.status != need.status:
                await api.move_need(session.token, need_id, data.status)
            if note:
                await api.add_need_note(session.token, need_id, note)
        except ApiError as exc:
            if exc.status not in (400, 409):  # refused as asked: say so on the form
                raise
            fresh = await _need(request, session, clinic, need_id)
            problem = "assignee" if isinstance(exc, _AssigneeRefused) else "refused"
            return _need_page(
                request, clinic, fresh, note=data.note, problem=problem, assignee=data.assignee
            )
        return Redirect(f"/clinics/{clinic_id}/needs/{need_id}", status_code=303)
