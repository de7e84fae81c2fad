"""The needs inbox of a clinic: every need by status (open ones by default), urgent first
then newest, each linking to its page (services/console/needs.py) for notes and moves."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromQuery
from litestar.response import Template

from services.console.api_client import Need
from services.console.pages import clinic_of, console_of, page, signed_in
from services.console.programme_api import ProgrammeApi
from shared.params import RowId

Req = Request[Any, Any, Any]
# A filter value -> the feedback API's statuses it covers.
SHOWN = {
    "open": ("new", "in_progress"),
    "new": ("new",),
    "in_progress": ("in_progress",),
    "resolved": ("resolved",),
    "all": ("new", "in_progress", "resolved"),
}
URGENCY = ("any", "urgent", "not_urgent")


def inbox_order(needs: list[Need], urgency: str) -> list[Need]:
    """Urgent first, then newest; `urgency` keeps only urgent or only other needs."""
    kept = [n for n in needs if urgency == "any" or n.urgent == (urgency == "urgent")]
    return sorted(kept, key=lambda n: (not n.urgent, -n.created_at.timestamp(), -n.id))


class NeedsInbox(Controller):
    @get("/clinics/{clinic_id:int}/needs")
    async def inbox(
        self,
        request: Req,
        clinic_id: RowId,
        status: FromQuery[str] = "open",
        urgency: FromQuery[str] = "any",
    ) -> Template:
        data = await signed_in(request)
        clinic = clinic_of(data, clinic_id)
        context: dict[str, Any] = {"clinic": clinic, "status": status, "urgency": urgency}
        if status not in SHOWN or urgency not in URGENCY:
            # A hand-made URL: say which filter is wrong, ask no API.
            bad = "status" if status not in SHOWN else "urgency"
            return page(
                request,
                "needs_inbox.html",
                status_code=400,
                problem=bad,
                needs=[],
                filters=SHOWN,
                urgencies=URGENCY,
                **context,
            )
        api = ProgrammeApi(console_of(request).api)
        found = await asyncio.gather(
            *(api.needs(data.token, clinic.id, one) for one in SHOWN[status])
        )
        needs = inbox_order([n for batch in found for n in batch], urgency)
        return page(
            request,
            "needs_inbox.html",
            problem=None,
            needs=needs,
            filters=SHOWN,
            urgencies=URGENCY,
            **context,
        )
