"""Follow-up notes with an outcome on dropout alerts, written from the Today page (under
each open alert) or the patient's page (under each of their alerts): the scheduler's
`POST /alerts/{id}/followups`, signed there with the writer's name. A note does not
close the alert: acknowledging stays its own click. What was typed is never dropped: a
note without text comes back with the outcome chosen and a message beside the field."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.exceptions import NotFoundException
from litestar.params import URLEncodedBody
from litestar.response import Redirect

from services.console.api_client import ApiError, ApiNotFound, ServicesClient
from services.console.pages import board_or_today, clinic_of, console_of, page, signed_in
from services.console.today import load_today
from shared.params import RowId

Req = Request[Any, Any, Any]
OUTCOMES = ("reached", "not_reachable", "referred", "resolved", "other")


class FollowupForm(msgspec.Struct):
    text: str = ""
    outcome: str = ""
    patient_id: str = ""  # set by the patient page's form: back there afterwards


class AlertApi:
    def __init__(self, api: ServicesClient) -> None:
        self.api = api

    async def add_followup(self, token: str, alert_id: int, text: str, outcome: str) -> None:
        url = f"{self.api.scheduler}/api/v1/alerts/{alert_id}/followups"
        body = {"text": text, "outcome": outcome or None}
        await self.api.call(token, "POST", url, json=body)


class FollowupPages(Controller):
    @post("/clinics/{clinic_id:int}/alerts/{alert_id:int}/followups", status_code=303)
    async def add(
        self, request: Req, clinic_id: RowId, alert_id: RowId, data: URLEncodedBody[FollowupForm]
    ) -> Response[Any]:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        console = console_of(request)
        back = (
            f"/clinics/{clinic.id}/patients/{data.patient_id}#alerts"
            if data.patient_id.isdigit()
            else None
        )
        problem = "missing" if not data.text.strip() else None
        if problem is None:
            try:
                await AlertApi(console.api).add_followup(
                    session.token,
                    alert_id,
                    data.text.strip(),
                    data.outcome if data.outcome in OUTCOMES else "",
                )
            except ApiNotFound:
                raise NotFoundException("no such alert") from None
            except ApiError as exc:
                if exc.status != 400:
                    raise
                problem = "refused"
        if problem is None:
            if back is not None:
                return Redirect(back, status_code=303)
            return await board_or_today(request, session.token, clinic)
        # Refused: the Today page again, the note as typed under its alert (the patient
        # page's form checks for text in the browser: `required`).
        view = await load_today(console.api, session.token, clinic, console.clock())
        typed = {"alert_id": alert_id, "text": data.text, "outcome": data.outcome}
        name = "_board.html" if request.headers.get("hx-request") else "today.html"
        return page(request, name, status_code=400, view=view, followup=typed, problem=problem)
