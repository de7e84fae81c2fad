"""Questionnaires in the console (issue 21): the clinic's due list (who is due which
questionnaire at which time point, the overdue first), the staff form that administers
one (questions in the staff member's language, answers on the questionnaire's scales,
the API's refusal beside the question it names, what was typed kept), and the signed link
to hand the patient instead, as a QR code and an address.

Another clinic's URL is a 404 before any API call; a patient the API does not show this
person, or one of another of their clinics under this clinic's URL, is the same 404."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery, PathParameter, URLEncodedBody
from litestar.response import Redirect, Template

from services.console.api_client import ApiError, ApiNotFound, Clinic
from services.console.assessment_view import (
    answers_of,
    assessment_form,
    local_input,
    parse_local,
    question_problems,
)
from services.console.i18n import current_language
from services.console.pages import clinic_of, console_of, page, restored_form, signed_in
from services.console.patient_api import Patient
from services.console.patient_view import qr_svg
from services.console.patients import patient_of, patient_path
from services.console.sessions import SessionData
from services.console.study_api import Questionnaire, StudyApi
from shared.params import MAX_ID, RowId

Req = Request[Any, Any, Any]
CODE = re.compile(r"[a-z0-9-]{2,40}")  # a questionnaire's code, as the scheduler's
Code = Annotated[str, PathParameter(pattern=f"^{CODE.pattern}$")]


class LinkForm(msgspec.Struct):
    due_id: str = ""


def study_api(request: Req) -> StudyApi:
    return StudyApi(console_of(request).api)


def form_path(clinic_id: int, patient_id: int, code: str) -> str:
    return f"{patient_path(clinic_id, patient_id)}/assessments/{code}"


async def _patient_and_questionnaire(
    request: Req, session: SessionData, clinic: Clinic, patient_id: int, code: str
) -> tuple[Patient, Questionnaire]:
    """Both at once; a 404 if either is not this person's under this clinic."""
    api = study_api(request)
    patient, questionnaire = await asyncio.gather(
        patient_of(request, session, clinic, patient_id),
        api.questionnaire(session.token, clinic.id, code),
        return_exceptions=True,
    )
    for answer in (patient, questionnaire):
        if isinstance(answer, ApiNotFound | NotFoundException):
            raise NotFoundException("no such patient or questionnaire")
        if isinstance(answer, BaseException):
            raise answer
    assert isinstance(patient, Patient)
    assert isinstance(questionnaire, Questionnaire)
    return patient, questionnaire


def _form_page(
    request: Req,
    session: SessionData,
    clinic: Clinic,
    patient: Patient,
    questionnaire: Questionnaire,
    typed: dict[str, str],
    *,
    problems: dict[str, str] | None = None,
    others: list[str] | None = None,
    restored: bool = False,
) -> Template:
    problems = problems or {}
    return page(
        request,
        "assessment_form.html",
        status_code=400 if problems or others else 200,
        clinic=clinic,
        patient=patient,
        form=assessment_form(questionnaire, current_language.get(), typed, problems),
        typed=typed,
        assessed_by=typed.get("assessed_by", session.name),
        assessed_at=typed.get("assessed_at")
        or local_input(console_of(request).clock(), clinic.time_zone),
        problems=problems,
        others=others or [],
        restored=restored,
    )


class AssessmentPages(Controller):
    path = "/clinics/{clinic_id:int}"

    @get("/assessments")
    async def due(self, request: Req, clinic_id: RowId) -> Template:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        api = study_api(request)
        due, questionnaires = await asyncio.gather(
            api.due(session.token, clinic.id), api.questionnaires(session.token, clinic.id)
        )
        titles = {q.code: q.titles for q in questionnaires}
        return page(request, "assessments_due.html", clinic=clinic, due=due, titles=titles)

    @get("/patients/{patient_id:int}/assessments")
    async def choose(
        self, request: Req, clinic_id: RowId, patient_id: RowId, instrument: FromQuery[str] = ""
    ) -> Response[Any]:
        """The questionnaires the clinic may use, each linked to its form for the patient."""
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        if CODE.fullmatch(instrument):
            return Redirect(form_path(clinic.id, patient_id, instrument), status_code=303)
        patient, questionnaires = await asyncio.gather(
            patient_of(request, session, clinic, patient_id),
            study_api(request).questionnaires(session.token, clinic.id),
        )
        return page(
            request,
            "assessment_choose.html",
            clinic=clinic,
            patient=patient,
            questionnaires=sorted(questionnaires, key=lambda q: q.code),
        )

    @get("/patients/{patient_id:int}/assessments/{code:str}")
    async def form(
        self,
        request: Req,
        clinic_id: RowId,
        patient_id: RowId,
        code: Code,
        time_point: FromQuery[str] = "",
        due: FromQuery[int | None] = None,
    ) -> Template:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        patient, questionnaire = await _patient_and_questionnaire(
            request, session, clinic, patient_id, code
        )
        kept = await restored_form(request, session)
        typed = dict(kept.fields) if kept else {}
        typed.setdefault("time_point", time_point[:40])
        if due is not None and 1 <= due <= MAX_ID:
            typed.setdefault("due_id", str(due))
        return _form_page(
            request, session, clinic, patient, questionnaire, typed, restored=kept is not None
        )

    @post("/patients/{patient_id:int}/assessments/{code:str}", status_code=303)
    async def record(
        self, request: Req, clinic_id: RowId, patient_id: RowId, code: Code
    ) -> Response[Any]:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        patient, questionnaire = await _patient_and_questionnaire(
            request, session, clinic, patient_id, code
        )
        posted = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        typed = {k: v for k, v in posted.items() if k != "_csrf_token"}
        assessed_at = parse_local(typed.get("assessed_at", ""), clinic.time_zone)
        if assessed_at is None:
            return _form_page(
                request,
                session,
                clinic,
                patient,
                questionnaire,
                typed,
                problems={"assessed_at": "missing"},
            )
        body: dict[str, Any] = {
            "instrument": questionnaire.code,
            "answers": answers_of(typed),
            "assessed_by": typed.get("assessed_by", "").strip() or session.name,
            "assessed_at": assessed_at.isoformat(),
            **({"time_point": typed["time_point"]} if typed.get("time_point") else {}),
        }
        try:
            await study_api(request).record(session.token, patient.id, body)
        except ApiError as exc:
            if exc.status not in (400, 409, 422):
                raise
            problems, others = question_problems(exc.detail)
            for field in ("assessed_at", "assessed_by", "time_point"):
                if any(o.startswith(f"{field}:") for o in others):
                    problems[field] = "refused"
            return _form_page(
                request,
                session,
                clinic,
                patient,
                questionnaire,
                typed,
                problems=problems,
                others=others,
            )
        return Redirect(f"{patient_path(clinic.id, patient.id)}#assessments", status_code=303)

    @post("/patients/{patient_id:int}/assessments/{code:str}/link", status_code=200)
    async def link(
        self,
        request: Req,
        clinic_id: RowId,
        patient_id: RowId,
        code: Code,
        data: URLEncodedBody[LinkForm],
    ) -> Template:
        """A signed link for the patient to answer this time point themselves, if the
        scheduler can make one (its links configured; the time point not done)."""
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        patient, questionnaire = await _patient_and_questionnaire(
            request, session, clinic, patient_id, code
        )
        if not data.due_id.isdigit() or not 1 <= int(data.due_id) <= MAX_ID:
            raise NotFoundException("no such time point")
        try:
            link = await study_api(request).link(session.token, patient.id, int(data.due_id))
        except ApiNotFound:
            raise NotFoundException("no such time point") from None
        except ApiError as exc:
            if exc.status not in (409, 503):  # done, discharged; links not configured
                raise
            return page(
                request,
                "assessment_link.html",
                status_code=exc.status or 502,
                clinic=clinic,
                patient=patient,
                title=assessment_form(questionnaire, current_language.get(), {}, {}).title,
                link=None,
                qr=None,
                problem="done" if exc.status == 409 else "unavailable",
            )
        return page(
            request,
            "assessment_link.html",
            clinic=clinic,
            patient=patient,
            title=assessment_form(questionnaire, current_language.get(), {}, {}).title,
            link=link,
            qr=qr_svg(link.url),
            problem=None,
        )
