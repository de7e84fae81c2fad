"""At the counter: one scan of a patient's card records the observed dose, and the
patient's page prints the card.

A USB barcode scanner is a keyboard: it types the card's code into the focused field of
the Today page and presses Enter. The console hands the code to the scheduler's
`POST /clinics/{id}/card-scans` (clinic-scoped there: another clinic's card records
nothing) and shows the answer above the board, with the field emptied and focused again
for the next patient (htmx swaps the board, whose field has `autofocus`). Without script
the same form posts and the page comes back whole. The card is the code as a QR code
(segno, like the WeChat binding's) and in digits, for a scanner or a keyboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template

from services.console.api_client import ApiError, ApiNotFound, ServicesClient
from services.console.pages import clinic_of, console_of, page, signed_in
from services.console.patient_view import qr_svg
from services.console.patients import patient_of, patient_path
from services.console.today import load_today
from shared.params import RowId

Req = Request[Any, Any, Any]


class ScanForm(msgspec.Struct):
    code: str = ""


class Card(msgspec.Struct, kw_only=True):
    patient_id: int
    clinic_number: str
    display_name: str
    code: str


class Scanned(msgspec.Struct, kw_only=True):
    patient_id: int
    clinic_number: str
    display_name: str
    recorded: bool
    taken_at: datetime


@dataclass(frozen=True)
class ScanResult:
    """What the counter sees after a scan: `outcome` is recorded, already, elsewhere
    (not a patient of this clinic) or unreadable."""

    outcome: str
    patient: Scanned | None = None
    at: str = ""  # the day's dose, HH:MM at the clinic


class CounterApi:
    def __init__(self, api: ServicesClient) -> None:
        self.api = api

    async def scan(self, token: str, clinic_id: int, code: str) -> Scanned:
        url = f"{self.api.scheduler}/api/v1/clinics/{clinic_id}/card-scans"
        body = await self.api.call(token, "POST", url, json={"code": code})
        return msgspec.json.decode(body, type=Scanned)

    async def card(self, token: str, patient_id: int, *, replace: bool = False) -> Card:
        url = f"{self.api.scheduler}/api/v1/patients/{patient_id}/card"
        body = await self.api.call(token, "POST" if replace else "GET", url)
        return msgspec.json.decode(body, type=Card)


async def scan_card(
    api: CounterApi, token: str, clinic_id: int, zone: str, code: str
) -> ScanResult:
    try:
        scanned = await api.scan(token, clinic_id, code.strip())
    except ApiNotFound:
        return ScanResult("elsewhere")
    except ApiError as exc:
        if exc.status != 400:
            raise
        return ScanResult("unreadable")
    at = scanned.taken_at.astimezone(ZoneInfo(zone)).strftime("%H:%M")
    return ScanResult("recorded" if scanned.recorded else "already", scanned, at)


def grouped(code: str) -> str:
    """3F9A 0C17 B2D4 E865: easier to read out or type (the API ignores the spaces)."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


class CounterPages(Controller):
    @post("/clinics/{clinic_id:int}/scan", status_code=200)
    async def scan(
        self, request: Req, clinic_id: RowId, data: URLEncodedBody[ScanForm]
    ) -> Template:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        console = console_of(request)
        result = await scan_card(
            CounterApi(console.api), session.token, clinic.id, clinic.time_zone, data.code
        )
        view = await load_today(console.api, session.token, clinic, console.clock())
        name = "_board.html" if request.headers.get("hx-request") else "today.html"
        status = 200 if result.outcome in ("recorded", "already") else 400
        return page(request, name, status_code=status, view=view, scan=result)

    @get("/clinics/{clinic_id:int}/patients/{patient_id:int}/card")
    async def card(self, request: Req, clinic_id: RowId, patient_id: RowId) -> Template:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        patient = await patient_of(request, session, clinic, patient_id)
        card = await CounterApi(console_of(request).api).card(session.token, patient.id)
        return page(
            request,
            "patient_card.html",
            clinic=clinic,
            patient=patient,
            code=grouped(card.code),
            qr=qr_svg(card.code),
        )

    @post("/clinics/{clinic_id:int}/patients/{patient_id:int}/card", status_code=303)
    async def replace_card(
        self, request: Req, clinic_id: RowId, patient_id: RowId
    ) -> Response[Any]:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        patient = await patient_of(request, session, clinic, patient_id)
        await CounterApi(console_of(request).api).card(session.token, patient.id, replace=True)
        return Redirect(patient_path(clinic.id, patient.id) + "/card", status_code=303)
