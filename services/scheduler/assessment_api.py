"""Routes for assessments (services.scheduler.assessments) and the follow-up plan
(services.scheduler.assessment_plan): thin handlers.

Clinic scope: a patient or clinic of another clinic is a 404, as everywhere; every request
is audited by the app-wide audit middleware (who, route, patient, outcome).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter

from services.scheduler import assessment_plan, assessment_study, assessments
from services.scheduler.api import CARE, DEPENDENCIES
from services.scheduler.assessment_definition import Questionnaire
from services.scheduler.patients import Scheduler
from shared.access.web import policy, principal_of
from shared.params import MAX_ID, QueryRowId, RowId

Req = Request[Any, Any, Any]


class QuestionnaireIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    definition: dict[str, Any]  # the YAML file's content as JSON (assessments/README.md)
    clinic_id: int | None = None  # None: for every clinic (admins only)


class AssessmentController(Controller):
    path = "/patients/{patient_id:int}/assessments"
    tags = ["assessments"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        opt=policy(*CARE, resource="patient"),
        summary="Record a questionnaire's answers; scored and kept with its version",
    )
    async def record(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        data: JSONBody[assessments.AssessmentIn],
    ) -> assessments.AssessmentOut:
        return await assessments.record_assessment(ctx, principal_of(request), patient_id, data)

    @get("/", opt=policy(*CARE, resource="patient"), summary="A patient's assessments")
    async def history(
        self, ctx: NamedDependency[Scheduler], request: Req, patient_id: RowId
    ) -> list[assessments.AssessmentOut]:
        return await assessments.history(ctx, principal_of(request), patient_id)


class AssessmentPlanController(Controller):
    path = "/patients/{patient_id:int}/assessment-plan"
    tags = ["assessments"]
    dependencies = DEPENDENCIES

    @put(
        "/",
        opt=policy(*CARE, resource="patient"),
        summary="Plan questionnaires at time points (baseline, month-2, ...) on given days",
    )
    async def plan(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        data: JSONBody[assessment_plan.ScheduleIn],
    ) -> list[assessment_plan.DueOut]:
        return await assessment_plan.set_schedule(ctx, principal_of(request), patient_id, data)

    @get("/", opt=policy(*CARE, resource="patient"), summary="A patient's follow-up plan")
    async def schedule(
        self, ctx: NamedDependency[Scheduler], request: Req, patient_id: RowId
    ) -> list[assessment_plan.DueOut]:
        return await assessment_plan.patient_schedule(ctx, principal_of(request), patient_id)

    @put(
        "/study/{study_id:int}",
        opt=policy(*CARE, resource="patient"),
        summary="Plan questionnaires at a study's follow-up time points, from the baseline",
    )
    async def plan_from_study(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        study_id: RowId,
        data: JSONBody[assessment_study.StudyPlanIn],
    ) -> list[assessment_plan.DueOut]:
        return await assessment_study.plan_from_study(
            ctx, principal_of(request), patient_id, study_id, data
        )

    @post(
        "/{due_id:int}/link",
        opt=policy(*CARE, resource="patient"),
        summary="A signed link for the patient to answer a planned questionnaire themselves",
    )
    async def link(
        self, ctx: NamedDependency[Scheduler], request: Req, patient_id: RowId, due_id: RowId
    ) -> assessment_plan.LinkOut:
        links = request.app.state.get("assessment_links")
        return await assessment_plan.issue_link(
            ctx, principal_of(request), patient_id, due_id, links
        )


class ClinicAssessmentsDueController(Controller):
    path = "/clinics/{clinic_id:int}/assessments-due"
    tags = ["assessments"]
    dependencies = DEPENDENCIES

    @get(
        "/",
        opt=policy(*CARE, resource="clinic"),
        summary="Questionnaires due and not done, up to a day (default a week ahead)",
    )
    async def due(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        clinic_id: RowId,
        until: FromQuery[date | None] = None,
    ) -> list[assessment_plan.DueOut]:
        return await assessment_plan.clinic_due(ctx, principal_of(request), clinic_id, until)


class QuestionnaireController(Controller):
    path = "/assessment-instruments"
    tags = ["assessments"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        opt=policy(*CARE, resource="assessment_instrument"),
        summary="Load a questionnaire definition (refused naming each wrong field)",
    )
    async def load(
        self, ctx: NamedDependency[Scheduler], request: Req, data: JSONBody[QuestionnaireIn]
    ) -> assessments.QuestionnaireOut:
        return await assessments.load_questionnaire(
            ctx, principal_of(request), data.clinic_id, data.definition
        )

    @get(
        "/{code:str}",
        opt=policy(*CARE, resource="assessment_instrument"),
        summary="A questionnaire as a clinic uses it: questions, answer scales and scores",
    )
    async def questionnaire(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        code: Annotated[str, PathParameter(min_length=2, max_length=40)],
        clinic_id: Annotated[int, QueryParameter(ge=1, le=MAX_ID)],
    ) -> Questionnaire:
        return await assessments.questionnaire(ctx, principal_of(request), clinic_id, code)

    @get(
        "/",
        opt=policy(*CARE, resource="assessment_instrument"),
        summary="Questionnaires a clinic may use",
    )
    async def questionnaires(
        self, ctx: NamedDependency[Scheduler], request: Req, clinic_id: QueryRowId = None
    ) -> list[assessments.QuestionnaireOut]:
        return await assessments.list_questionnaires(ctx, principal_of(request), clinic_id)
