"""Enrolling a patient: consent, language, dose time, quiet hours, channels (and a study
arm), sent to the scheduler's enrolment API with the signed-in person's token.

The API is the one judge of what is valid: its refusal names the field (the parser's
`extra` key, or the first word of its reason), and the form comes back with the message
beside that field and everything typed kept. Only consent is checked here first: without
it nothing may be sent. WeChat needs no address at enrolment: when it is ticked, the
answer is the patient's binding QR code to scan at the counter, and the scheduler puts
WeChat first once they have."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template

from services.console.api_client import ApiError, Clinic
from services.console.i18n import LANGUAGES
from services.console.pages import clinic_of, console_of, page, restored_form, signed_in
from services.console.patient_api import PatientApi
from services.console.patients import binding_page, patient_path, refused_fields
from shared.params import RowId

Req = Request[Any, Any, Any]
STUDY_ARMS = ("intervention", "control")
# The API's field -> the form's: where the refusal's message is shown.
API_FIELDS = {
    "clinic_number": "clinic_number",
    "display_name": "display_name",
    "consent": "consent_version",
    "consent.version": "consent_version",
    "consent.given_at": "consent_version",
    "phone": "phone",
    "channel_order": "channels",
    "language": "language",
    "dose_time": "dose_time",
    "quiet_start": "quiet_start",
    "quiet_end": "quiet_end",
    "study_arm": "study_arm",
}


class EnrolForm(msgspec.Struct):
    clinic_number: str = ""
    display_name: str = ""
    consent: str = ""
    consent_version: str = ""
    language: str = "zh-CN"
    dose_time: str = "07:30"
    quiet_start: str = "22:00"
    quiet_end: str = "07:00"
    phone: str = ""
    sms: str = ""
    wechat: str = ""
    study_arm: str = ""


# A new form: SMS reaches every phone; WeChat is bound by its QR code after enrolment.
NEW_FORM = EnrolForm(sms="on", wechat="on")


def _form_page(
    request: Req,
    clinic: Clinic,
    typed: EnrolForm,
    errors: dict[str, str] | None = None,
    detail: str = "",
    restored: bool = False,
) -> Template:
    return page(
        request,
        "enrol.html",
        status_code=400 if errors else 200,
        clinic=clinic,
        typed=typed,
        errors=errors or {},
        detail=detail,
        languages=LANGUAGES,
        study_arms=STUDY_ARMS,
        restored=restored,
    )


def _record(clinic: Clinic, form: EnrolForm, given_at: str) -> dict[str, Any]:
    """The API's enrolment body. Values go as typed (trimmed): the API judges them."""
    return {
        "clinic_id": clinic.id,
        "clinic_number": form.clinic_number.strip(),
        "display_name": form.display_name.strip(),
        "consent": {"version": form.consent_version.strip(), "given_at": given_at},
        "phone": form.phone.strip() or None,
        # WeChat joins the order when the patient scans the binding code (no openid yet).
        "channel_order": ["sms"] if form.sms else [],
        "language": form.language,
        "dose_time": form.dose_time.strip(),
        "quiet_start": form.quiet_start.strip(),
        "quiet_end": form.quiet_end.strip(),
        "study_arm": form.study_arm or None,
    }


class EnrolPage(Controller):
    path = "/clinics/{clinic_id:int}/enrol"

    @get("/")
    async def form(self, request: Req, clinic_id: RowId) -> Template:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        kept = await restored_form(request, session)
        if kept is None:
            return _form_page(request, clinic, NEW_FORM)
        # The fields as typed; a box left unticked was not posted, so it stays unticked.
        typed = msgspec.convert({**msgspec.structs.asdict(EnrolForm()), **kept.fields}, EnrolForm)
        return _form_page(request, clinic, typed, restored=True)

    @post("/", status_code=303)
    async def enrol(
        self, request: Req, clinic_id: RowId, data: URLEncodedBody[EnrolForm]
    ) -> Response[Any]:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        if not data.consent:
            return _form_page(request, clinic, data, {"consent": "missing"})
        console = console_of(request)
        given_at = console.clock().astimezone(ZoneInfo(clinic.time_zone)).isoformat()
        api = PatientApi(console.api)
        try:
            patient = await api.enrol(session.token, _record(clinic, data, given_at))
        except ApiError as exc:
            if exc.status not in (400, 409):
                raise
            errors = (
                {"clinic_number": "taken"} if exc.status == 409 else refused_fields(exc, API_FIELDS)
            )
            return _form_page(request, clinic, data, errors, exc.detail)
        if data.wechat:
            return await binding_page(request, session, clinic, patient, enrolled=True)
        return Redirect(patient_path(clinic.id, patient.id), status_code=303)
