"""A patient's page (linked from Today): the record and consent, channels and WeChat
binding, pause / resume / discharge / transfer, the month's adherence calendar, the
timeline of messages and replies, urine tests, ratings and needs.

Every change goes through the scheduler's API with the signed-in person's token. Another
clinic's URL is a 404 before any API call; a patient the API does not show this person,
or one of another of their clinics under this clinic's URL, is the same 404 page. A
refused change shows the page again with the reason beside its field and what was typed
kept."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from services.console.api_client import ApiError, ApiNotFound, Clinic, SessionRevoked
from services.console.mi_view import change_form, mi_changes
from services.console.pages import (
    clinic_of,
    console_of,
    page,
    restored_followup,
    restored_form,
    signed_in,
)
from services.console.patient_api import Patient, PatientApi, PatientPage
from services.console.patient_view import (
    PatientView,
    load_patient_view,
    masked_phone,
    month_or_none,
    qr_svg,
)
from services.console.sessions import SessionData
from shared.params import RowId

Req = Request[Any, Any, Any]
URINE_RESULTS = ("negative", "positive", "invalid")


class PauseForm(msgspec.Struct):
    reason: str = ""
    resume_on: str = ""


class DischargeForm(msgspec.Struct):
    confirm: str = ""


class TransferForm(msgspec.Struct):
    clinic_id: str = ""
    clinic_number: str = ""


class UrineForm(msgspec.Struct):
    taken_on: str = ""
    result: str = ""
    substances: str = ""


def patient_api(request: Req) -> PatientApi:
    return PatientApi(console_of(request).api)


async def patient_of(request: Req, data: SessionData, clinic: Clinic, patient_id: int) -> Patient:
    """The patient if the API shows them to this person under this clinic; 404 otherwise."""
    try:
        patient = await patient_api(request).patient(data.token, patient_id)
    except ApiNotFound:
        raise NotFoundException("no such patient") from None
    return _under(clinic, patient)


def _under(clinic: Clinic, patient: Patient) -> Patient:
    if patient.clinic_id != clinic.id:  # another of this person's clinics: not under this URL
        raise NotFoundException("no such patient")
    return patient


async def _scheduler_part(
    request: Req, data: SessionData, clinic: Clinic, patient_id: int, month: str | None
) -> PatientPage:
    """The scheduler's part of the page in one call, refused (404) like `patient_of`."""
    try:
        found = await patient_api(request).page(data.token, patient_id, month)
    except ApiNotFound:
        raise NotFoundException("no such patient") from None
    _under(clinic, found.patient)
    return found


def patient_path(clinic_id: int, patient_id: int) -> str:
    return f"/clinics/{clinic_id}/patients/{patient_id}"


def refused_fields(exc: ApiError, known: dict[str, str]) -> dict[str, str]:
    """The form's fields (`known`: the API's field name -> the form's) that the API's
    refusal names, each marked "refused" (the page shows that field's own message); a
    reason naming none of them is shown above the form, as "_form"."""
    found = {known[f]: "refused" for f in exc.fields if f in known}
    return found or {"_form": "refused"}


async def _page(
    request: Req,
    data: SessionData,
    clinic: Clinic,
    patient_id: int,
    month: str | None = None,
    *,
    form: str | None = None,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    detail: str = "",
    followup: dict[str, Any] | None = None,
    restored: bool = False,
) -> Template:
    found = await _scheduler_part(request, data, clinic, patient_id, month_or_none(month))
    view: PatientView = await load_patient_view(patient_api(request), data.token, clinic, found)
    return page(
        request,
        "patient.html",
        status_code=400 if errors else 200,
        clinic=clinic,
        view=view,
        phone=masked_phone(view.patient.phone),
        other_clinics=[c for c in data.clinics if c.id != clinic.id],
        urine_results=URINE_RESULTS,
        today=view.calendar.today.isoformat(),
        tomorrow=(view.calendar.today + timedelta(days=1)).isoformat(),
        form=form,
        typed=typed or {},
        errors=errors or {},
        detail=detail,
        followup=followup,
        restored=restored,
        mi_changes=mi_changes(view.mi, data, console_of(request).clock()),
    )


async def form_refused(
    request: Req,
    data: SessionData,
    clinic: Clinic,
    patient_id: int,
    form: str,
    *,
    errors: dict[str, str],
    typed: dict[str, str] | None = None,
    detail: str = "",
) -> Template:
    """The patient page again (400), one of its forms refused: what was typed kept, the
    errors beside their fields. For the forms whose handlers live in their own modules
    (handouts.py, mi.py)."""
    return await _page(
        request, data, clinic, patient_id, form=form, typed=typed, errors=errors, detail=detail
    )


# The patient page's forms by the path they post to (a kept form comes back in its own).
_FORM_OF_ACTION = {
    "pause": "pause",
    "transfer": "transfer",
    "urine-tests": "urine",
    "mi-sessions": "mi",
}


class PatientPages(Controller):
    path = "/clinics/{clinic_id:int}/patients/{patient_id:int}"

    @get("/")
    async def show(
        self,
        request: Req,
        clinic_id: RowId,
        patient_id: RowId,
        month: FromQuery[str | None] = None,
    ) -> Template:
        data = await signed_in(request)
        clinic = clinic_of(data, clinic_id)
        kept = await restored_form(request, data)
        if kept is None:
            return await _page(request, data, clinic, patient_id, month)
        return await _page(
            request,
            data,
            clinic,
            patient_id,
            month,
            form=_FORM_OF_ACTION.get(kept.action.rsplit("/", 1)[-1]) or change_form(kept.action),
            typed=kept.fields,
            followup=restored_followup(kept),
            restored=True,
        )

    @post("/pause", status_code=303)
    async def pause(
        self, request: Req, clinic_id: RowId, patient_id: RowId, data: URLEncodedBody[PauseForm]
    ) -> Response[Any]:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        patient = await patient_of(request, session, clinic, patient_id)
        typed = {"reason": data.reason, "resume_on": data.resume_on}
        if not data.reason.strip():
            errors = {"reason": "missing"}
            return await _page(
                request, session, clinic, patient.id, form="pause", typed=typed, errors=errors
            )
        try:
            await patient_api(request).pause(
                session.token, patient.id, data.reason.strip(), data.resume_on.strip() or None
            )
        except ApiError as exc:
            if exc.status not in (400, 409):
                raise
            errors = refused_fields(exc, {"reason": "reason", "resume_on": "resume_on"})
            return await _page(
                request,
                session,
                clinic,
                patient.id,
                form="pause",
                typed=typed,
                errors=errors,
                detail=exc.detail,
            )
        return Redirect(patient_path(clinic.id, patient.id), status_code=303)

    @post("/resume", status_code=303)
    async def resume(self, request: Req, clinic_id: RowId, patient_id: RowId) -> Response[Any]:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        patient = await patient_of(request, session, clinic, patient_id)
        try:
            await patient_api(request).resume(session.token, patient.id)
        except ApiError as exc:
            if exc.status != 409:  # discharged meanwhile: the page says what the state is
                raise
        return Redirect(patient_path(clinic.id, patient.id), status_code=303)

    @post("/discharge", status_code=303)
    async def discharge(
        self,
        request: Req,
        clinic_id: RowId,
        patient_id: RowId,
        data: URLEncodedBody[DischargeForm],
    ) -> Response[Any]:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        patient = await patient_of(request, session, clinic, patient_id)
        if not data.confirm:
            errors = {"confirm": "missing"}
            return await _page(
                request, session, clinic, patient.id, form="discharge", errors=errors
            )
        await patient_api(request).discharge(session.token, patient.id)
        return Redirect(patient_path(clinic.id, patient.id), status_code=303)

    @post("/transfer", status_code=303)
    async def transfer(
        self,
        request: Req,
        clinic_id: RowId,
        patient_id: RowId,
        data: URLEncodedBody[TransferForm],
    ) -> Response[Any]:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        patient = await patient_of(request, session, clinic, patient_id)
        typed = {"clinic_id": data.clinic_id, "clinic_number": data.clinic_number}
        # Only a clinic of this person's (the form offers no other): another clinic's id is
        # a 404, as its URL would be, and is never sent to an API.
        target = clinic_of(session, int(data.clinic_id)) if data.clinic_id.isdigit() else None
        errors: dict[str, str] = {}
        if target is None or target.id == clinic.id:
            errors["clinic_id"] = "missing"
        if not data.clinic_number.strip():
            errors["clinic_number"] = "missing"
        if errors or target is None:
            return await _page(
                request, session, clinic, patient.id, form="transfer", typed=typed, errors=errors
            )
        try:
            await patient_api(request).transfer(
                session.token, patient.id, target.id, data.clinic_number.strip()
            )
        except ApiError as exc:
            if exc.status not in (400, 409):
                raise
            errors = (
                {"clinic_number": "taken"}
                if exc.status == 409
                else refused_fields(
                    exc, {"clinic_number": "clinic_number", "clinic_id": "clinic_id"}
                )
            )
            return await _page(
                request,
                session,
                clinic,
                patient.id,
                form="transfer",
                typed=typed,
                errors=errors,
                detail=exc.detail,
            )
        return Redirect(patient_path(target.id, patient.id), status_code=303)

    @post("/urine-tests", status_code=303)
    async def urine_test(
        self, request: Req, clinic_id: RowId, patient_id: RowId, data: URLEncodedBody[UrineForm]
    ) -> Response[Any]:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        patient = await patient_of(request, session, clinic, patient_id)
        typed = {"taken_on": data.taken_on, "result": data.result, "substances": data.substances}
        substances = [s.strip() for s in data.substances.replace("，", ",").split(",") if s.strip()]
        try:
            await patient_api(request).urine_test(
                session.token, patient.id, data.taken_on.strip(), data.result, substances
            )
        except ApiError as exc:
            if exc.status != 400:
                raise
            known = {"taken_on": "taken_on", "result": "result", "substances": "substances"}
            return await _page(
                request,
                session,
                clinic,
                patient.id,
                form="urine",
                typed=typed,
                errors=refused_fields(exc, known),
                detail=exc.detail,
            )
        return Redirect(patient_path(clinic.id, patient.id), status_code=303)

    @post("/wechat-binding", status_code=200)
    async def wechat_binding(self, request: Req, clinic_id: RowId, patient_id: RowId) -> Template:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        patient = await patient_of(request, session, clinic, patient_id)
        return await binding_page(request, session, clinic, patient)


async def binding_page(
    request: Req, session: SessionData, clinic: Clinic, patient: Patient, *, enrolled: bool = False
) -> Template:
    """A new one-time binding code's QR code for the patient to scan at the counter. The
    page answers the form that asked for it: reloading it asks for another code, which is
    harmless (each code binds once, until it expires)."""
    try:
        binding = await patient_api(request).wechat_binding(session.token, patient.id)
    except (SessionRevoked, ApiNotFound):
        raise
    except ApiError:  # WeChat refused or did not answer: the patient's record is unchanged
        return page(
            request,
            "patient_binding.html",
            status_code=502,
            clinic=clinic,
            patient=patient,
            binding=None,
            qr=None,
            enrolled=enrolled,
        )
    return page(
        request,
        "patient_binding.html",
        clinic=clinic,
        patient=patient,
        binding=binding,
        qr=qr_svg(binding.qr_url) if binding.qr_url else None,
        enrolled=enrolled,
    )
