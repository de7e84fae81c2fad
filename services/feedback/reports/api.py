"""Report and export routes: thin handlers over services.feedback.reports and .exports.

Aggregates and the de-identified exports are open to researchers; the identified exports
(patient ids, patients' words) only to the clinic's own staff.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery
from litestar.response import Stream

from services.feedback.api import CARE, DEPENDENCIES
from services.feedback.models import InboundMessage, SurveyRun
from services.feedback.needs import clinic_scope
from services.feedback.reports import exports, summaries
from services.feedback.schemas import NeedCount, RatingGroup, SurveyReport
from services.feedback.surveys.api import STAFF, SurveyKey
from shared.access.web import policy, principal_of
from shared.db import Database
from shared.params import QueryInstant, QueryRowId, instant

Req = Request[Any, Any, Any]
Since = QueryInstant
CSV = "text/csv"  # Litestar adds the charset (utf-8)
# The 200 is CSV; errors stay JSON (a route-level text/csv would make Litestar try to send
# its JSON error answers as CSV), so only the 200 is declared as CSV.
CSV_ANSWER = {200: ResponseSpec(str, media_type=CSV, description="CSV, UTF-8 with a BOM")}


async def _csv(chunks: AsyncIterator[bytes], filename: str) -> Stream:
    """Runs the first page's query before answering, so a bad filter or an unavailable
    database is a 4xx/5xx with a reason, not an error in the middle of a 200."""
    ready = [await anext(chunks)]  # the header
    page = await anext(chunks, None)
    if page is not None:
        ready.append(page)

    async def rest() -> AsyncIterator[bytes]:
        for chunk in ready:
            yield chunk
        async for chunk in chunks:
            yield chunk

    return Stream(
        rest(),
        media_type=CSV,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]
    dependencies = DEPENDENCIES

    @get(
        "/ratings",
        opt=policy(*STAFF, resource="report"),
        summary="Ratings by lesson, module or arm",
    )
    async def ratings(
        self,
        db: NamedDependency[Database],
        request: Req,
        by: FromQuery[summaries.GroupBy] = "lesson",
        clinic_id: QueryRowId = None,
        since: Since = None,
    ) -> list[RatingGroup]:
        return await summaries.ratings(
            db, principal_of(request), by=by, clinic_id=clinic_id, since=instant(since, "since")
        )

    @get(
        "/surveys/{survey_key:str}",
        opt=policy(*STAFF, resource="report"),
        summary="A survey's runs by state and each question's answer distribution",
    )
    async def survey(
        self,
        db: NamedDependency[Database],
        request: Req,
        survey_key: SurveyKey,
        clinic_id: QueryRowId = None,
        study_arm: FromQuery[Literal["intervention", "control"] | None] = None,
    ) -> SurveyReport:
        return await summaries.survey_report(
            db, principal_of(request), survey_key, clinic_id=clinic_id, study_arm=study_arm
        )

    @get("/needs", opt=policy(*STAFF, resource="report"), summary="Needs by category and status")
    async def needs(
        self,
        db: NamedDependency[Database],
        request: Req,
        clinic_id: QueryRowId = None,
        since: Since = None,
    ) -> list[NeedCount]:
        return await summaries.need_counts(
            db, principal_of(request), clinic_id=clinic_id, since=instant(since, "since")
        )


def time_window(
    request: Req, column: Any, clinic_id: int | None, since: str | None, until: str | None
) -> Any:
    scope = clinic_scope(principal_of(request), column, clinic_id)
    return exports.Window(scope, instant(since, "since"), instant(until, "until"))


class ExportController(Controller):
    path = "/exports"
    tags = ["reports"]
    dependencies = DEPENDENCIES

    async def _replies(
        self, db: Database, request: Req, state: State, research: bool, **where: Any
    ) -> Stream:
        window = time_window(request, InboundMessage.clinic_id, **where)
        chunks = exports.replies(db, window, research=research, cipher=state.cipher)
        return await _csv(chunks, "replies-deidentified.csv" if research else "replies.csv")

    async def _answers(
        self, db: Database, request: Req, state: State, survey: str | None, research: bool,
        **where: Any,
    ) -> Stream:  # fmt: skip
        window = time_window(request, SurveyRun.clinic_id, **where)
        chunks = exports.survey_answers(db, window, survey, research=research, cipher=state.cipher)
        name = "survey-answers-deidentified.csv" if research else "survey-answers.csv"
        return await _csv(chunks, name)

    @get(
        "/replies.csv",
        opt=policy(*CARE, resource="export"),
        responses=CSV_ANSWER,
        summary="Replies, identified",
    )
    async def replies(
        self,
        db: NamedDependency[Database],
        request: Req,
        state: State,
        clinic_id: QueryRowId = None,
        since: Since = None,
        until: Since = None,
    ) -> Stream:
        return await self._replies(
            db, request, state, False, clinic_id=clinic_id, since=since, until=until
        )

    @get(
        "/research/replies.csv",
        opt=policy(*STAFF, resource="export"),
        responses=CSV_ANSWER,
        summary="Replies, de-identified: pseudonyms, dates, no words",
    )
    async def research_replies(
        self,
        db: NamedDependency[Database],
        request: Req,
        state: State,
        clinic_id: QueryRowId = None,
        since: Since = None,
        until: Since = None,
    ) -> Stream:
        return await self._replies(
            db, request, state, True, clinic_id=clinic_id, since=since, until=until
        )

    @get(
        "/survey-answers.csv",
        opt=policy(*CARE, resource="export"),
        responses=CSV_ANSWER,
        summary="Survey answers, identified",
    )
    async def answers(
        self,
        db: NamedDependency[Database],
        request: Req,
        state: State,
        survey: FromQuery[str | None] = None,
        clinic_id: QueryRowId = None,
        since: Since = None,
        until: Since = None,
    ) -> Stream:
        return await self._answers(
            db, request, state, survey, False, clinic_id=clinic_id, since=since, until=until
        )

    @get(
        "/research/survey-answers.csv",
        opt=policy(*STAFF, resource="export"),
        responses=CSV_ANSWER,
        summary="Survey answers, de-identified: pseudonyms, dates, no words",
    )
    async def research_answers(
        self,
        db: NamedDependency[Database],
        request: Req,
        state: State,
        survey: FromQuery[str | None] = None,
        clinic_id: QueryRowId = None,
        since: Since = None,
        until: Since = None,
    ) -> Stream:
        return await self._answers(
            db, request, state, survey, True, clinic_id=clinic_id, since=since, until=until
        )
