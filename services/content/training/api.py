"""Staff-training routes: thin handlers over services.content.training.*.

A staff member (a console sign-in's token: admin or coordinator) reads lessons and takes the
quiz rounds for themselves only; the report is aggregates, per clinic, for coordinators
(their clinics), admins and researchers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post, put
from litestar.datastructures import State
from litestar.params import FromQuery, JSONBody, PathParameter

from services.content.training import me, programmes, quiz, report
from services.content.training.schemas import (
    ClinicReport,
    MyTraining,
    ProgrammeIn,
    ProgrammeOut,
    QuizIn,
    QuizOut,
    QuizResult,
    ReadOut,
)
from shared.access.tokens import Role
from shared.access.web import policy, principal_of
from shared.params import QueryRowId, RowId

STAFF = policy(Role.ADMIN, Role.COORDINATOR, resource="training", person=True)
READERS = policy(Role.ADMIN, Role.COORDINATOR, Role.RESEARCHER, resource="training")
Language = Literal["zh-CN", "en"]
TrackPath = Annotated[str, PathParameter(min_length=1, max_length=40)]
KeyPath = Annotated[str, PathParameter(min_length=1, max_length=60)]
RoundPath = Annotated[str, PathParameter(min_length=1, max_length=20)]
Req = Request[Any, Any, Any]


def _now() -> datetime:
    return datetime.now(UTC)


class TrainingController(Controller):
    path = "/training"
    tags = ["staff training"]

    @get("/me", opt=STAFF, summary="My staff lessons (read or not) and quiz rounds")
    async def mine(
        self, state: State, request: Req, language: FromQuery[Language] = "zh-CN"
    ) -> MyTraining:
        return await me.my_training(
            state.db, state.access_db, principal_of(request), language, _now()
        )

    @post(
        "/lessons/{track:str}/{key:str}/read",
        opt=STAFF,
        status_code=200,
        summary="I read this staff lesson (its published version); again keeps the first time",
    )
    async def read(self, state: State, request: Req, track: TrackPath, key: KeyPath) -> ReadOut:
        return await me.mark_read(state.db, principal_of(request), track, key, _now())

    @get(
        "/quiz/{round:str}",
        opt=STAFF,
        summary="A quiz round's questions in my language, never the answers",
    )
    async def questions(
        self, state: State, request: Req, round: RoundPath, language: FromQuery[Language] = "zh-CN"
    ) -> QuizOut:
        return await quiz.questions(
            state.db, state.access_db, principal_of(request), round, language, _now()
        )

    @post(
        "/quiz/{round:str}",
        opt=STAFF,
        status_code=201,
        summary="Answer a due round once: the score; 409 taken or not due, 422 a bad answer",
    )
    async def take(
        self, state: State, request: Req, round: RoundPath, data: JSONBody[QuizIn]
    ) -> QuizResult:
        return await quiz.take(
            state.db, state.access_db, principal_of(request), round, data, _now()
        )

    @get("/report", opt=READERS, summary="Per clinic and round: staff, took, scores, lessons read")
    async def report(
        self, state: State, request: Req, clinic_id: QueryRowId = None
    ) -> list[ClinicReport]:
        return await report.clinic_reports(
            state.db, state.access_db, principal_of(request), clinic_id, _now()
        )

    @put(
        "/programmes/{clinic_id:int}",
        opt=policy(Role.ADMIN, resource="clinic"),
        summary="A clinic's training programme start: its staff's rounds count from that day",
    )
    async def set_programme(
        self, state: State, request: Req, clinic_id: RowId, data: JSONBody[ProgrammeIn]
    ) -> ProgrammeOut:
        return await programmes.set_start(
            state.db, state.access_db, principal_of(request), clinic_id, data, _now()
        )

    @get("/programmes", opt=READERS, summary="The clinics' training programme starts")
    async def list_programmes(self, state: State, request: Req) -> list[ProgrammeOut]:
        return await programmes.list_starts(state.db, principal_of(request))
