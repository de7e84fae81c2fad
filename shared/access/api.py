"""Routes for clinics and the audit log (served by the scheduler, the coordinators' home)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.datastructures import State
from litestar.params import FromQuery, JSONBody

from shared.access.audit import AuditFilter, AuditOut, query_audit
from shared.access.clinics import (
    ClinicIn,
    ClinicOut,
    ClinicPatch,
    create_clinic,
    get_clinic,
    list_clinics,
    update_clinic,
)
from shared.access.tokens import Role
from shared.access.web import policy, principal_of
from shared.openapi_schemas import example_for
from shared.params import Limit, QueryInstant, QueryRowId, RowId, instant

Req = Request[Any, Any, Any]
STAFF = (Role.ADMIN, Role.COORDINATOR, Role.RESEARCHER)

example_for(
    ClinicIn,
    {
        "code": "YX-MMT",
        "name": "Yuxi MMT clinic",
        "time_zone": "Asia/Shanghai",
        "help_phone": "0877 2012345",
        "opens_at": "07:00",
        "closes_at": "17:00",
        "alert_phone": "+86 139 0013 9000",
    },
)
example_for(ClinicPatch, {"closes_at": "18:00"})


class ClinicController(Controller):
    path = "/clinics"
    tags = ["clinics"]

    @post("/", opt=policy(Role.ADMIN, resource="clinic"), summary="Register a clinic")
    async def create_clinic(self, state: State, data: JSONBody[ClinicIn]) -> ClinicOut:
        return await create_clinic(state.access_db, data)

    @get(
        "/",
        opt=policy(*STAFF, resource="clinic"),
        summary="Clinics the caller may see (a coordinator: its own)",
    )
    async def list_clinics(self, state: State, request: Req) -> list[ClinicOut]:
        return await list_clinics(state.access_db, principal_of(request))

    @get("/{clinic_id:int}", opt=policy(*STAFF, resource="clinic"), summary="One clinic")
    async def get_clinic(self, state: State, request: Req, clinic_id: RowId) -> ClinicOut:
        return await get_clinic(state.access_db, principal_of(request), clinic_id)

    @patch(
        "/{clinic_id:int}",
        opt=policy(Role.ADMIN, resource="clinic"),
        summary="Change a clinic's name, time zone, HELP phone or hours",
    )
    async def update_clinic(
        self, state: State, request: Req, clinic_id: RowId, data: JSONBody[ClinicPatch]
    ) -> ClinicOut:
        return await update_clinic(state.access_db, principal_of(request), clinic_id, data)


class AuditController(Controller):
    path = "/audit"
    tags = ["audit"]

    @get(
        "/",
        opt=policy(Role.ADMIN, resource="audit"),
        summary="Who read or changed what, newest first",
    )
    async def search(
        self,
        state: State,
        token_id: FromQuery[str | None] = None,
        clinic_id: QueryRowId = None,
        resource_type: FromQuery[str | None] = None,
        resource_id: FromQuery[str | None] = None,
        since: QueryInstant = None,
        until: QueryInstant = None,
        before_id: QueryRowId = None,
        limit: Limit = 100,
    ) -> list[AuditOut]:
        where = AuditFilter(
            token_id=token_id,
            clinic_id=clinic_id,
            resource_type=resource_type,
            resource_id=resource_id,
            since=instant(since, "since"),
            until=instant(until, "until"),
            before_id=before_id,
            limit=limit,
        )
        return await query_audit(state.access_db, where)
