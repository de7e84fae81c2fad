"""Survey routes: thin handlers over services.feedback.surveys.admin."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, PathParameter

from services.feedback.api import CARE, DEPENDENCIES
from services.feedback.schemas import SurveyRunOut, SurveyRunsIn, SurveyRunsStarted
from services.feedback.surveys import admin
from services.feedback.surveys.definitions import Survey
from shared.access.tokens import Role
from shared.access.web import policy, principal_of
from shared.db import Database
from shared.params import Limit, QueryRowId, RowId

Req = Request[Any, Any, Any]
STAFF = (Role.ADMIN, Role.COORDINATOR, Role.RESEARCHER)
SurveyKey = Annotated[str, PathParameter(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
RunState = FromQuery[Literal["open", "completed", "timed_out", "cancelled"] | None]


class SurveyController(Controller):
    path = "/surveys"
    tags = ["surveys"]
    dependencies = DEPENDENCIES

    @get("/", opt=policy(*STAFF, resource="survey"), summary="Survey definitions")
    async def list_surveys(self, db: NamedDependency[Database]) -> list[Survey]:
        return await admin.list_definitions(db)

    @get("/{survey_key:str}", opt=policy(*STAFF, resource="survey"), summary="One survey")
    async def get_survey(self, db: NamedDependency[Database], survey_key: SurveyKey) -> Survey:
        return await admin.get_definition(db, survey_key)

    @post(
        "/",
        opt=policy(*CARE, resource="survey"),
        status_code=201,
        summary="Define a survey (questions: scale 1-5, choice 1-9, text); never changed after",
    )
    async def create_survey(
        self, db: NamedDependency[Database], request: Req, data: JSONBody[Survey]
    ) -> Survey:
        return await admin.create_definition(db, principal_of(request), data)


class ClinicSurveyController(Controller):
    path = "/clinics/{clinic_id:int}/surveys/{survey_key:str}/runs"
    tags = ["surveys"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        opt=policy(*CARE, resource="survey"),
        status_code=202,
        summary="Send a survey to the clinic's patients, one question at a time",
    )
    async def start_runs(
        self,
        db: NamedDependency[Database],
        request: Req,
        clinic_id: RowId,
        survey_key: SurveyKey,
        data: JSONBody[SurveyRunsIn],
    ) -> SurveyRunsStarted:
        return await admin.start_runs(db, principal_of(request), clinic_id, survey_key, data)

    @get("/", opt=policy(*CARE, resource="survey"), summary="Runs and answers, newest first")
    async def list_runs(
        self,
        db: NamedDependency[Database],
        clinic_id: RowId,
        survey_key: SurveyKey,
        status: RunState = None,
        patient_id: QueryRowId = None,
        before_id: QueryRowId = None,
        limit: Limit = 100,
    ) -> list[SurveyRunOut]:
        return await admin.list_runs(
            db,
            clinic_id,
            survey_key,
            state=status,
            patient_id=patient_id,
            before_id=before_id,
            limit=limit,
        )
