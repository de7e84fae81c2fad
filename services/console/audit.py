"""The audit log for admins: who (the person behind a console token, or the token id) read
or changed which patient or record, and when; from the access schema's audit API.

A coordinator gets the not-found page before any API call: the page is not theirs to see,
and saying "forbidden" would only confirm that it exists."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery
from litestar.response import Template

from services.console.pages import console_of, page, signed_in
from services.console.programme_api import ProgrammeApi
from services.console.sessions import SessionData

Req = Request[Any, Any, Any]
RESOURCE_TYPES = ("", "patient", "need", "feedback", "clinic", "alert", "report", "survey")
PAGE_SIZE = 100


def _filters(
    clinic: str, resource_type: str, resource_id: str, day: str, before: str
) -> tuple[dict[str, Any], str | None]:
    """The API's filters from the form, or the name of the field that is wrong."""
    if clinic and not clinic.isdigit():
        return {}, "clinic"
    if resource_type not in RESOURCE_TYPES:
        return {}, "resource_type"
    if len(resource_id) > 64:
        return {}, "resource_id"
    if before and not before.isdigit():
        return {}, "before"
    filters: dict[str, Any] = {
        "clinic_id": clinic or None,
        "resource_type": resource_type or None,
        "resource_id": resource_id or None,
        "before_id": before or None,
        "limit": PAGE_SIZE,
    }
    if day:
        try:
            start = datetime.combine(date.fromisoformat(day), time(), ZoneInfo("Asia/Shanghai"))
        except ValueError:
            return {}, "day"
        filters["since"] = start.isoformat()
        filters["until"] = start.replace(hour=23, minute=59, second=59).isoformat()
    return filters, None


def admin_only(data: SessionData) -> None:
    """The not-found page for anyone but an admin, before any API call."""
    if data.role != "admin":
        raise NotFoundException("admins only")


class AuditPage(Controller):
    @get("/audit")
    async def audit(
        self,
        request: Req,
        clinic: FromQuery[str] = "",
        resource_type: FromQuery[str] = "",
        resource_id: FromQuery[str] = "",
        day: FromQuery[str] = "",
        before: FromQuery[str] = "",
    ) -> Template:
        data = await signed_in(request)
        admin_only(data)
        form = {
            "clinic": clinic,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "day": day,
        }
        filters, problem = _filters(clinic, resource_type, resource_id, day, before)
        entries = []
        if problem is None:
            entries = await ProgrammeApi(console_of(request).api).audit(data.token, filters)
        return page(
            request,
            "audit.html",
            status_code=400 if problem else 200,
            problem=problem,
            entries=entries,
            form=form,
            resource_types=RESOURCE_TYPES,
            page_size=PAGE_SIZE,
        )

    @get("/dead-letters")
    async def dead_letters(self, request: Req) -> Template:
        data = await signed_in(request)
        admin_only(data)
        letters = await ProgrammeApi(console_of(request).api).dead_letters(data.token, 100)
        return page(request, "dead_letters.html", letters=letters)
