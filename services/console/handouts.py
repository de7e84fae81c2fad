"""Printed lesson handouts (issue 21, the routine-care arm): a lesson's A4 handout with the
clinic's name (the content service's PDF, passed through: the browser holds no API token)
and "record as given" (the scheduler's handout log). The patient page lists the lessons
of the patient's track with both (patient.html, from the scheduler's page answer).

Another clinic's URL is a 404 before any API call; recording checks the patient is this
person's under this clinic first, as every patient form does."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery, PathParameter, URLEncodedBody
from litestar.response import Redirect

from services.console.api_client import ApiError, ApiNotFound
from services.console.pages import clinic_of, console_of, signed_in
from services.console.patients import form_refused, patient_of, patient_path
from services.console.study_api import StudyApi
from shared.params import MAX_ID, RowId

Req = Request[Any, Any, Any]
Track = Annotated[str, PathParameter(pattern=r"^[a-z0-9-]{1,40}$")]
LessonKey = Annotated[str, PathParameter(pattern=r"^[a-z0-9-]{1,60}$")]


class GiveForm(msgspec.Struct):
    track: str = ""
    lesson_key: str = ""
    version: str = ""


class HandoutPages(Controller):
    path = "/clinics/{clinic_id:int}"

    @get("/handouts/{track:str}/{version:int}/{key:str}")
    async def pdf(
        self,
        request: Req,
        clinic_id: RowId,
        track: Track,
        version: RowId,
        key: LessonKey,
        language: FromQuery[Literal["zh-CN", "en"]] = "zh-CN",
    ) -> Response[bytes]:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        api = StudyApi(console_of(request).api)
        try:
            pdf = await api.handout_pdf(session.token, clinic.id, (track, version, key), language)
        except ApiNotFound:
            raise NotFoundException("no such lesson") from None
        name = f"{track}-{key}-v{version}-{language}.pdf"
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @post("/patients/{patient_id:int}/handouts", status_code=303)
    async def give(
        self, request: Req, clinic_id: RowId, patient_id: RowId, data: URLEncodedBody[GiveForm]
    ) -> Response[Any]:
        session = await signed_in(request)
        clinic = clinic_of(session, clinic_id)
        patient = await patient_of(request, session, clinic, patient_id)
        version = int(data.version) if data.version.isdigit() else 0
        api = StudyApi(console_of(request).api)
        try:
            if not 1 <= version <= MAX_ID:
                raise ApiError("version refused", 400, "version: not a published version")
            await api.give_handout(session.token, patient.id, data.track, data.lesson_key, version)
        except ApiError as exc:
            if exc.status != 400:
                raise
            return await form_refused(
                request,
                session,
                clinic,
                patient.id,
                "handout",
                errors={"handout": "refused"},
                detail=exc.detail,
            )
        return Redirect(f"{patient_path(clinic.id, patient.id)}#handouts", status_code=303)
