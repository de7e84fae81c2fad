"""Routes of a clinic's calendar: special days (calendar_days) and weekly hours with
take-home doses (calendar_week), thin handlers."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Controller, Request, delete, get, put
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery, JSONBody

from services.scheduler import calendar_days, calendar_week
from services.scheduler.api import CARE, DEPENDENCIES
from services.scheduler.patients import Scheduler
from shared.access.web import policy, principal_of
from shared.params import RowId

Req = Request[Any, Any, Any]


class ClinicDayController(Controller):
    path = "/clinics/{clinic_id:int}/days"
    tags = ["clinic calendar"]
    dependencies = DEPENDENCIES

    @put(
        "/{day:date}",
        opt=policy(*CARE, resource="clinic"),
        summary="Make a day closed, or open at other hours; its dose reminders are re-planned",
    )
    async def set_day(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        clinic_id: RowId,
        day: FromPath[date],
        data: JSONBody[calendar_days.ClinicDayIn],
    ) -> calendar_days.ClinicDayOut:
        return await calendar_days.set_day(ctx, principal_of(request), clinic_id, day, data)

    @delete("/{day:date}", opt=policy(*CARE, resource="clinic"), summary="An ordinary day again")
    async def clear_day(
        self, ctx: NamedDependency[Scheduler], request: Req, clinic_id: RowId, day: FromPath[date]
    ) -> None:
        await calendar_days.clear_day(ctx, principal_of(request), clinic_id, day)

    @get("/", opt=policy(*CARE, resource="clinic"), summary="Special days from a date on")
    async def list_days(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        clinic_id: RowId,
        since: FromQuery[date | None] = None,
    ) -> list[calendar_days.ClinicDayOut]:
        return await calendar_days.list_days(ctx, principal_of(request), clinic_id, since)


class HoursRefused(HTTPException):
    """For the OpenAPI document: calendar_week.InvalidHours answers 422."""

    status_code = 422
    detail = "Hours that make no sense; the detail names the field"


class ClinicWeekController(Controller):
    path = "/clinics/{clinic_id:int}/calendar"
    tags = ["clinic calendar"]
    dependencies = DEPENDENCIES

    @get("/", opt=policy(*CARE, resource="clinic"), summary="Weekly hours and take-home doses")
    async def get_calendar(
        self, ctx: NamedDependency[Scheduler], request: Req, clinic_id: RowId
    ) -> calendar_week.CalendarOut:
        return await calendar_week.get_calendar(ctx, principal_of(request), clinic_id)

    @put(
        "/",
        opt=policy(*CARE, resource="clinic"),
        summary="Set the weekly hours and take-home doses; unreleased reminders are re-planned",
        raises=[HoursRefused],
    )
    async def set_calendar(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        clinic_id: RowId,
        data: JSONBody[calendar_week.CalendarIn],
    ) -> calendar_week.CalendarOut:
        return await calendar_week.set_calendar(ctx, principal_of(request), clinic_id, data)
