"""Logging a motivational-interviewing session from the patient page (issue 22): the date at
the clinic, minutes, topic, the importance and confidence rulers (0-10) and a short plan.
The scheduler checks it (a date in the future or before enrolment, a ruler off 0-10); a
refusal shows the patient page again with the reason beside its field and what was typed
kept, and a form posted after the session ended is kept for its person (kept_forms.py)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect

from services.console.api_client import ApiError
from services.console.care_api import CareApi
from services.console.pages import clinic_of, console_of, signed_in
from services.console.patients import form_refused, patient_of, patient_path
from shared.params import RowId

Req = Request[Any, Any, Any]
REQUIRED = ("held_on", "minutes", "topic", "importance", "confidence")
NUMBERS = ("minutes", "importance", "confidence")


class MiForm(msgspec.Struct):
    held_on: str = ""
    minutes: str = ""
    topic: str = ""
    topic_note: str = ""
    importance: str = ""
    confidence: str = ""
    plan: str = ""


def _number(value: str) -> int | str:
    """A whole number as one (the API bounds it); anything else as typed, for the API to
    refuse by name."""
    text = value.strip()
    return int(text) if text.isdigit() and len(text) <= 6 else text


def mi_body(form: MiForm) -> dict[str, Any]:
    body: dict[str, Any] = {
        "held_on": form.held_on.strip(),
        "topic": form.topic,
        **{name: _number(getattr(form, name)) for name in NUMBERS},
    }
    for optional in ("topic_note", "plan"):
        text = getattr(form, optional).strip()
        if text:
            body[optional] = text
    return body


def refused_field(exc: ApiError) -> str:
    """The form's field the API's refusal names ("held_on: ..." or the parser's key)."""
    for field in exc.fields:
        name = field.rstrip(":")
        if name in (*REQUIRED, "topic_note", "plan"):
            return name
    return "mi"  # none of them: shown above the form


class MiPages(Controller):
    path = "/clinics/{clinic_id:int}/patients/{patient_id:int}"

    @post("/mi-sessions", status_code=303)
    async def log(
        self, request: Req, clinic_id: RowId, patient_id: RowId, data: URLEncodedBody[MiForm]
    ) -> Response[Any]:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        patient = await patient_of(request, session, clinic, patient_id)
        typed = msgspec.structs.asdict(data)
        missing = {name: "missing" for name in REQUIRED if not typed[name].strip()}
        if missing:
            return await form_refused(
                request, session, clinic, patient.id, "mi", errors=missing, typed=typed
            )
        try:
            await CareApi(console_of(request).api).log_mi(session.token, patient.id, mi_body(data))
        except ApiError as exc:
            if exc.status not in (400, 422):
                raise
            return await form_refused(
                request,
                session,
                clinic,
                patient.id,
                "mi",
                errors={refused_field(exc): "refused"},
                typed=typed,
                detail=exc.detail,
            )
        return Redirect(f"{patient_path(clinic.id, patient.id)}#mi", status_code=303)
