"""Logging a motivational-interviewing session from the patient page (issue 22): the date at
the clinic, minutes, topic, the importance and confidence rulers (0-10) and a short plan.
The scheduler checks it (a date in the future or before enrolment, a ruler off 0-10); a
refusal shows the patient page again with the reason beside its field and what was typed
kept, and a form posted after the session ended is kept for its person (kept_forms.py).

A session is corrected (the same fields, pre-filled) or voided with a reason from the same
page, where mi_view.py offers it; the scheduler refusing (403: not its author; 409: more
than a day old, or voided) is said above the sessions, with what was typed kept in its
form. A session id not among this patient's sessions is a 404 before any change."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.exceptions import NotFoundException
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template

from services.console.api_client import ApiError, ApiNotFound, Clinic
from services.console.care_api import CareApi
from services.console.pages import clinic_of, console_of, signed_in
from services.console.patients import form_refused, patient_of, patient_path
from services.console.sessions import SessionData
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


class VoidForm(msgspec.Struct):
    reason: str = ""


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


def correction(form: MiForm) -> dict[str, Any]:
    """Every field as typed: an optional text left empty clears it (the PATCH's rule)."""
    return mi_body(form) | {"topic_note": form.topic_note.strip(), "plan": form.plan.strip()}


def refused_field(
    exc: ApiError, fields: tuple[str, ...] = (*REQUIRED, "topic_note", "plan")
) -> str:
    """The form's field the API's refusal names ("held_on: ..." or the parser's key)."""
    for field in exc.fields:
        name = field.rstrip(":")
        if name in fields:
            return name
    return "mi"  # none of them: shown above the form


async def _session_of(
    request: Req, clinic_id: int, patient_id: int, session_id: int
) -> tuple[SessionData, Clinic, int]:
    """The signed-in person, the clinic and the patient's id, if the MI session is the
    patient's and they are this clinic's; 404 if not (another clinic's: no API call)."""
    session = await signed_in(request)
    clinic = clinic_of(session, clinic_id)
    patient = await patient_of(request, session, clinic, patient_id)
    try:
        mi = await CareApi(console_of(request).api).patient_mi(session.token, patient.id)
    except ApiNotFound:
        raise NotFoundException("no such MI session") from None
    if not any(s.id == session_id for s in mi.sessions):
        raise NotFoundException("no such MI session")
    return session, clinic, patient.id


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

    @post("/mi-sessions/{session_id:int}", status_code=303)
    async def correct(
        self,
        request: Req,
        clinic_id: RowId,
        patient_id: RowId,
        session_id: RowId,
        data: URLEncodedBody[MiForm],
    ) -> Response[Any]:
        session, clinic, patient = await _session_of(request, clinic_id, patient_id, session_id)
        form, typed = f"mi-edit-{session_id}", msgspec.structs.asdict(data)
        missing = {name: "missing" for name in REQUIRED if not typed[name].strip()}
        if missing:
            return await form_refused(
                request, session, clinic, patient, form, errors=missing, typed=typed
            )
        try:
            await CareApi(console_of(request).api).correct_mi(
                session.token, session_id, correction(data)
            )
        except ApiError as exc:
            return await _refused(request, session, clinic, patient, form, typed, exc)
        return Redirect(f"{patient_path(clinic.id, patient)}#mi", status_code=303)

    @post("/mi-sessions/{session_id:int}/void", status_code=303)
    async def void(
        self,
        request: Req,
        clinic_id: RowId,
        patient_id: RowId,
        session_id: RowId,
        data: URLEncodedBody[VoidForm],
    ) -> Response[Any]:
        session, clinic, patient = await _session_of(request, clinic_id, patient_id, session_id)
        form, typed = f"mi-void-{session_id}", msgspec.structs.asdict(data)
        reason = data.reason.strip()
        if not reason:
            return await form_refused(
                request, session, clinic, patient, form, errors={"reason": "missing"}, typed=typed
            )
        try:
            await CareApi(console_of(request).api).void_mi(session.token, session_id, reason)
        except ApiError as exc:
            return await _refused(request, session, clinic, patient, form, typed, exc)
        return Redirect(f"{patient_path(clinic.id, patient)}#mi", status_code=303)


async def _refused(
    request: Req,
    session: SessionData,
    clinic: Clinic,
    patient_id: int,
    form: str,
    typed: dict[str, str],
    exc: ApiError,
) -> Template:
    """A correction or void the scheduler refused: a field it names beside that field; not
    the author (403), too late or voided (409) above the sessions; what was typed kept."""
    if isinstance(exc, ApiNotFound):
        raise NotFoundException("no such MI session") from None
    if exc.status not in (400, 403, 409, 422):
        raise exc
    field = refused_field(exc, (*REQUIRED, "topic_note", "plan", "reason"))
    name = field if exc.status in (400, 422) and field != "mi" else "change"
    return await form_refused(
        request,
        session,
        clinic,
        patient_id,
        form,
        errors={name: "refused"},
        typed=typed,
        detail=exc.detail,
    )
