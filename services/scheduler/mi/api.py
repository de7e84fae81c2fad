"""Routes for MI sessions: thin handlers over services.scheduler.mi.* (no SQL here).

Logging, reading and correcting are care work (admins and the clinic's coordinators);
researchers get the clinic's figures (providers as pseudonyms) and the study's
pseudonymised CSV only. Audited like every route.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Controller, Request, Response, get, patch, post, put
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromQuery, JSONBody

from services.scheduler.api import CARE, DEPENDENCIES
from services.scheduler.mi import report, sessions, targets
from services.scheduler.mi.schemas import (
    ClinicTargetIn,
    ClinicTargetOut,
    MiReportOut,
    MiSessionIn,
    MiSessionOut,
    MiSessionPatch,
    PatientMiOut,
    VoidIn,
)
from services.scheduler.patients import Scheduler
from shared.access.tokens import Role
from shared.access.web import policy, principal_of
from shared.params import RowId

Req = Request[Any, Any, Any]
On = FromQuery[date | None]  # "as on this date"; the patient's or clinic's today when unset


class SessionRefused(HTTPException):
    """For the OpenAPI document: sessions.InvalidSession answers 422."""

    status_code = 422
    detail = "A date or provider the record refuses; the detail names the field"


class PatientMiController(Controller):
    path = "/patients/{patient_id:int}/mi-sessions"
    tags = ["MI sessions"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        opt=policy(*CARE, resource="patient"),
        summary="Log a motivational-interviewing session held with the patient",
        raises=[SessionRefused],
    )
    async def log(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        data: JSONBody[MiSessionIn],
    ) -> MiSessionOut:
        return await sessions.log_session(ctx, principal_of(request), patient_id, data)

    @get(
        "/",
        opt=policy(*CARE, resource="patient"),
        summary="The patient's MI sessions (voided ones too) and where they stand on the target",
    )
    async def list_sessions(
        self, ctx: NamedDependency[Scheduler], request: Req, patient_id: RowId, on: On = None
    ) -> PatientMiOut:
        return await sessions.patient_sessions(ctx, principal_of(request), patient_id, on)


class MiSessionController(Controller):
    path = "/mi-sessions/{session_id:int}"
    tags = ["MI sessions"]
    dependencies = DEPENDENCIES

    @patch(
        "/",
        opt=policy(*CARE, resource="mi_session"),
        summary="Correct a session within 24 hours of logging it (its author or an admin)",
        raises=[SessionRefused],  # 403 for another's session: documented for all
    )
    async def correct(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        session_id: RowId,
        data: JSONBody[MiSessionPatch],
    ) -> MiSessionOut:
        return await sessions.correct_session(ctx, principal_of(request), session_id, data)

    @post(
        "/void",
        opt=policy(*CARE, resource="mi_session"),
        status_code=200,
        summary="Void a session with a reason: the row stays, it no longer counts",
        raises=[SessionRefused],
    )
    async def void(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        session_id: RowId,
        data: JSONBody[VoidIn],
    ) -> MiSessionOut:
        return await sessions.void_session(ctx, principal_of(request), session_id, data)


class ClinicMiController(Controller):
    path = "/clinics/{clinic_id:int}/mi-sessions"
    tags = ["MI sessions"]
    dependencies = DEPENDENCIES

    @get(
        "/report",
        opt=policy(*CARE, Role.RESEARCHER, resource="clinic"),
        summary="Clients with a target by status; figures per provider and per arm",
    )
    async def clinic_report(
        self, ctx: NamedDependency[Scheduler], request: Req, clinic_id: RowId, on: On = None
    ) -> MiReportOut:
        return await report.clinic_report(ctx, principal_of(request), clinic_id, on)

    @get(
        "/target",
        opt=policy(*CARE, resource="clinic"),
        summary="The clinic's MI target for its patients in no study",
    )
    async def get_target(
        self, ctx: NamedDependency[Scheduler], request: Req, clinic_id: RowId
    ) -> ClinicTargetOut:
        return await targets.clinic_target(ctx, principal_of(request), clinic_id)

    @put(
        "/target",
        opt=policy(*CARE, resource="clinic"),
        summary="Set the clinic's MI target for its patients in no study (0 sessions: none)",
    )
    async def set_target(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        clinic_id: RowId,
        data: JSONBody[ClinicTargetIn],
    ) -> ClinicTargetOut:
        return await targets.set_clinic_target(ctx, principal_of(request), clinic_id, data)


class StudyMiController(Controller):
    path = "/studies/{study_id:int}"
    tags = ["MI sessions"]
    dependencies = DEPENDENCIES

    @get(
        "/mi-sessions.csv",
        opt=policy(Role.ADMIN, Role.RESEARCHER, resource="study"),
        media_type="text/csv",
        summary="The study's MI sessions in the participants' windows, pseudonymised, as CSV",
    )
    async def study_csv(
        self, ctx: NamedDependency[Scheduler], request: Req, study_id: RowId
    ) -> Response[str]:
        text = await report.study_csv(ctx, principal_of(request), study_id)
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="study-{study_id}-mi-sessions.csv"'
            },
        )
