"""The feedback service's coordinator routes: thin handlers over services.feedback.needs."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Request, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, JSONBody

from services.feedback import needs
from services.feedback.schemas import (
    Category,
    FeedbackOut,
    Login,
    NeedOut,
    NeedPatch,
    NeedStatus,
    NoteIn,
    NoteOut,
    RatingSummary,
)
from shared.access.tokens import Role
from shared.access.web import policy, principal_of
from shared.db import Database
from shared.params import Limit, QueryInstant, QueryRowId, RowId, instant

Req = Request[Any, Any, Any]
CARE = (Role.ADMIN, Role.COORDINATOR)  # patients' own words: never researchers
ReplyKind = Literal[
    "rating",
    "number",
    "survey_answer",
    "survey_invalid",
    "opt_out",
    "opt_in",
    "help",
    "record",
    "need",
    "subscribe",
    "unsubscribe",
]


def provide_db(state: State) -> Database:
    db: Database = state.db
    return db


DEPENDENCIES = {"db": Provide(provide_db, sync_to_thread=False)}


class NeedController(Controller):
    path = "/needs"
    tags = ["feedback"]
    dependencies = DEPENDENCIES

    @get("/", opt=policy(*CARE, resource="need"), summary="Patients' needs, newest first")
    async def list_needs(
        self,
        db: NamedDependency[Database],
        request: Req,
        clinic_id: QueryRowId = None,
        status: FromQuery[NeedStatus | None] = None,
        urgent: FromQuery[bool | None] = None,
        category: FromQuery[Category | None] = None,
        patient_id: QueryRowId = None,
        assignee: FromQuery[Login | None] = None,
        since: QueryInstant = None,
        until: QueryInstant = None,
        before_id: QueryRowId = None,
        limit: Limit = 100,
    ) -> list[NeedOut]:
        return await needs.list_needs(
            db,
            principal_of(request),
            clinic_id=clinic_id,
            status=status,
            urgent=urgent,
            category=category,
            patient_id=patient_id,
            assignee=assignee,
            since=instant(since, "since"),
            until=instant(until, "until"),
            before_id=before_id,
            limit=limit,
        )

    @get("/{need_id:int}", opt=policy(*CARE, resource="need"), summary="One need, with notes")
    async def get_need(
        self, db: NamedDependency[Database], request: Req, need_id: RowId
    ) -> NeedOut:
        return await needs.get_need(db, principal_of(request), need_id)

    @patch(
        "/{need_id:int}",
        opt=policy(*CARE, resource="need"),
        summary="Move a need along new -> in_progress -> resolved, or recategorise it",
    )
    async def update_need(
        self,
        db: NamedDependency[Database],
        state: State,
        request: Req,
        need_id: RowId,
        data: JSONBody[NeedPatch],
    ) -> NeedOut:
        access_db: Database = state.access_db  # staff accounts: whom a need may go to
        return await needs.update_need(db, access_db, principal_of(request), need_id, data)

    @post(
        "/{need_id:int}/notes",
        opt=policy(*CARE, resource="need"),
        status_code=201,
        summary="A follow-up note, signed with the caller's token id and staff name",
    )
    async def add_note(
        self,
        db: NamedDependency[Database],
        state: State,
        request: Req,
        need_id: RowId,
        data: JSONBody[NoteIn],
    ) -> NoteOut:
        access_db: Database = state.access_db  # whose token: the note keeps their name
        return await needs.add_note(db, access_db, principal_of(request), need_id, data)


class FeedbackController(Controller):
    path = "/"
    tags = ["feedback"]
    dependencies = DEPENDENCIES

    @get(
        "/feedback",
        opt=policy(*CARE, resource="feedback"),
        summary="Patients' replies (ratings, commands, needs), newest first; no phone numbers",
    )
    async def list_feedback(
        self,
        db: NamedDependency[Database],
        request: Req,
        clinic_id: QueryRowId = None,
        kind: FromQuery[ReplyKind | None] = None,
        patient_id: QueryRowId = None,
        since: QueryInstant = None,
        until: QueryInstant = None,
        before_id: QueryRowId = None,
        limit: Limit = 100,
    ) -> list[FeedbackOut]:
        return await needs.list_feedback(
            db,
            principal_of(request),
            clinic_id=clinic_id,
            kind=kind,
            patient_id=patient_id,
            since=instant(since, "since"),
            until=instant(until, "until"),
            before_id=before_id,
            limit=limit,
        )

    @get(
        "/ratings/summary",
        opt=policy(*CARE, resource="rating"),
        summary="Average rating per lesson",
    )
    async def ratings_summary(
        self, db: NamedDependency[Database], request: Req, clinic_id: QueryRowId = None
    ) -> list[RatingSummary]:
        return await needs.ratings_summary(db, principal_of(request), clinic_id)
