"""The scheduler's routes: thin handlers over services.scheduler.* (no SQL here)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import Example
from litestar.params import FromQuery, JSONBody, QueryParameter

from services.scheduler import alert_followups, cards, doses, monthly, patients, reports, roster
from services.scheduler.alert_followups import FollowupIn, FollowupOut
from services.scheduler.binding import BindingOut, create_binding
from services.scheduler.cards import CardOut, ScanIn, ScanOut
from services.scheduler.patient_page import PatientPage, patient_page
from services.scheduler.patients import Scheduler
from services.scheduler.schemas import (
    DoseBatchIn,
    DoseBatchOut,
    DoseIn,
    PatientIn,
    PatientOut,
    PatientPatch,
    PauseIn,
    ReminderIn,
    TransferIn,
    UrineTestIn,
)
from shared.access.tokens import Role
from shared.access.web import policy, principal_of
from shared.channels.factory import wechat_account
from shared.channels.settings import ChannelsConfig
from shared.params import Days, Limit, QueryRowId, RowId

Req = Request[Any, Any, Any]
CARE = (Role.ADMIN, Role.COORDINATOR)  # identifiable patient data: never researchers
PatientState = Literal["active", "paused", "discharged"]
MessageState = Literal[
    "queued",
    "sending",
    "sent",
    "delivered",
    "failed",
    "expired",
    "suppressed",
    "opted_out",
    "skipped",
]
AlertState = Literal["open", "acknowledged"]
Month = Annotated[
    str | None,
    QueryParameter(
        pattern=monthly.MONTH_PATTERN,
        description="YYYY-MM; the patient's present month when unset",
        examples=[Example(value="2026-11")],
    ),
]


def provide_scheduler(state: State) -> Scheduler:
    # Once per app: building it reads the settings from the environment, which cost a
    # quarter of a coordinator read's CPU when done per request (docs/benchmarks.md).
    ctx: Scheduler | None = state.get("scheduler")
    if ctx is None:
        ctx = state.scheduler = Scheduler(state.db, state.access_db, state.cipher)
    return ctx


DEPENDENCIES = {"ctx": Provide(provide_scheduler, sync_to_thread=False)}


class PatientController(Controller):
    path = "/patients"
    tags = ["patients"]
    dependencies = DEPENDENCIES

    @post("/", opt=policy(*CARE, resource="patient"), summary="Enrol a patient, with consent")
    async def enrol(
        self, ctx: NamedDependency[Scheduler], request: Req, data: JSONBody[PatientIn]
    ) -> PatientOut:
        return await patients.enrol(ctx, principal_of(request), data)

    @get("/", opt=policy(*CARE, resource="patient"), summary="Search patients")
    async def search(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        clinic_id: QueryRowId = None,
        clinic_number: FromQuery[str | None] = None,
        phone: FromQuery[str | None] = None,
        status: FromQuery[PatientState | None] = None,
        after_id: QueryRowId = None,
        limit: Limit = 100,
    ) -> list[PatientOut]:
        return await patients.search(
            ctx,
            principal_of(request),
            clinic_id=clinic_id,
            clinic_number=clinic_number,
            phone=phone,
            state=status,
            after_id=after_id,
            limit=limit,
        )

    @get("/{patient_id:int}", opt=policy(*CARE, resource="patient"))
    async def get_patient(
        self, ctx: NamedDependency[Scheduler], request: Req, patient_id: RowId
    ) -> PatientOut:
        return await patients.get(ctx, principal_of(request), patient_id)

    @patch("/{patient_id:int}", opt=policy(*CARE, resource="patient"))
    async def update(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        data: JSONBody[PatientPatch],
    ) -> PatientOut:
        return await patients.update(ctx, principal_of(request), patient_id, data)

    @post(
        "/{patient_id:int}/pause",
        opt=policy(*CARE, resource="patient"),
        status_code=200,
        summary="Pause reminders (e.g. compulsory detoxification), optionally until a date",
    )
    async def pause(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        data: JSONBody[PauseIn],
    ) -> PatientOut:
        return await patients.pause(ctx, principal_of(request), patient_id, data)

    @post("/{patient_id:int}/resume", opt=policy(*CARE, resource="patient"), status_code=200)
    async def resume(
        self, ctx: NamedDependency[Scheduler], request: Req, patient_id: RowId
    ) -> PatientOut:
        return await patients.resume(ctx, principal_of(request), patient_id)

    @post("/{patient_id:int}/discharge", opt=policy(*CARE, resource="patient"), status_code=200)
    async def discharge(
        self, ctx: NamedDependency[Scheduler], request: Req, patient_id: RowId
    ) -> PatientOut:
        return await patients.discharge(ctx, principal_of(request), patient_id)

    @post("/{patient_id:int}/transfer", opt=policy(*CARE, resource="patient"), status_code=200)
    async def transfer(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        data: JSONBody[TransferIn],
    ) -> PatientOut:
        return await patients.transfer(ctx, principal_of(request), patient_id, data)

    @post(
        "/{patient_id:int}/doses",
        opt=policy(*CARE, resource="patient"),
        summary="Record an observed dose",
    )
    async def record_dose(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        data: JSONBody[DoseIn],
    ) -> DoseBatchOut:
        return await doses.record_dose(ctx, principal_of(request), patient_id, data)

    @post("/{patient_id:int}/urine-tests", opt=policy(*CARE, resource="patient"), status_code=204)
    async def record_urine_test(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        data: JSONBody[UrineTestIn],
    ) -> None:
        await doses.record_urine_test(ctx, principal_of(request), patient_id, data)

    @post(
        "/{patient_id:int}/reminders",
        opt=policy(*CARE, resource="patient"),
        status_code=201,
        summary="A urine-test or appointment reminder on a given day",
    )
    async def add_reminder(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        data: JSONBody[ReminderIn],
    ) -> None:
        await doses.add_reminder(ctx, principal_of(request), patient_id, data)

    @post(
        "/{patient_id:int}/wechat-binding",
        opt=policy(*CARE, resource="patient"),
        status_code=201,
        summary="A one-time code and QR code that binds the patient's WeChat when scanned",
    )
    async def wechat_binding(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        state: State,
        patient_id: RowId,
    ) -> BindingOut:
        wechat = wechat_account(state.redis, ChannelsConfig(), state.settings.bus.bus_prefix)
        try:
            return await create_binding(ctx, principal_of(request), patient_id, wechat)
        finally:
            if wechat is not None:
                await wechat.aclose()

    @get(
        "/{patient_id:int}/card",
        opt=policy(*CARE, resource="patient"),
        summary="The code the patient's card carries (scanned at the counter)",
    )
    async def card(
        self, ctx: NamedDependency[Scheduler], request: Req, patient_id: RowId
    ) -> CardOut:
        return await cards.get_card(ctx, principal_of(request), patient_id)

    @post(
        "/{patient_id:int}/card",
        opt=policy(*CARE, resource="patient"),
        status_code=200,
        summary="A new card code for a lost card; the old one records nothing from now on",
    )
    async def replace_card(
        self, ctx: NamedDependency[Scheduler], request: Req, patient_id: RowId
    ) -> CardOut:
        return await cards.replace_card(ctx, principal_of(request), patient_id)

    @get(
        "/{patient_id:int}/timeline",
        opt=policy(*CARE, resource="patient"),
        summary="Messages, attempts, doses and tests, newest first",
    )
    async def timeline(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        limit: Limit = 200,
    ) -> list[reports.TimelineEntry]:
        return await reports.timeline(ctx, principal_of(request), patient_id, min(limit, 1000))

    @get(
        "/{patient_id:int}/adherence",
        opt=policy(*CARE, resource="patient"),
        summary="Observed doses over the last days, with streaks",
    )
    async def adherence(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        days: Days = 30,
    ) -> reports.Adherence:
        return await reports.adherence(ctx, principal_of(request), patient_id, days)

    @get(
        "/{patient_id:int}/page",
        opt=policy(*CARE, resource="patient"),
        summary="The record, a month's calendar, the timeline and the alerts in one answer",
    )
    async def page(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        month: Month = None,
        limit: Limit = 200,
    ) -> PatientPage:
        return await patient_page(ctx, principal_of(request), patient_id, month, min(limit, 1000))

    @get(
        "/{patient_id:int}/calendar",
        opt=policy(*CARE, resource="patient"),
        summary="A month day by day: dosed, missed, paused or discharged",
    )
    async def calendar(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        month: Month = None,
    ) -> monthly.MonthCalendar:
        return await monthly.month_calendar(ctx, principal_of(request), patient_id, month)


class ClinicActivityController(Controller):
    path = "/clinics/{clinic_id:int}"
    tags = ["clinics"]
    dependencies = DEPENDENCIES

    @post(
        "/doses",
        opt=policy(*CARE, resource="clinic"),
        summary="A dispensing system's batch of observed doses (all or nothing)",
    )
    async def record_doses(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        clinic_id: RowId,
        data: JSONBody[DoseBatchIn],
    ) -> DoseBatchOut:
        return await doses.record_clinic_doses(ctx, principal_of(request), clinic_id, data)

    @post(
        "/card-scans",
        opt=policy(*CARE, resource="clinic"),
        status_code=200,
        summary="A patient card scanned at the counter: records the observed dose (once a day)",
    )
    async def scan_card(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        clinic_id: RowId,
        data: JSONBody[ScanIn],
    ) -> ScanOut:
        return await cards.scan_card(ctx, principal_of(request), clinic_id, data)

    @get(
        "/day",
        opt=policy(*CARE, resource="clinic"),
        summary="A day's messages by state, doses recorded, active patients",
    )
    async def day(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        clinic_id: RowId,
        on: FromQuery[date | None] = None,
    ) -> reports.ClinicDay:
        return await reports.clinic_day(ctx, principal_of(request), clinic_id, on)

    @get(
        "/roster",
        opt=policy(*CARE, resource="clinic"),
        summary="The day's active patients, each with the dose recorded, if any",
    )
    async def day_roster(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        clinic_id: RowId,
        on: FromQuery[date | None] = None,
        limit: Limit = 1000,
    ) -> roster.Roster:
        return await roster.clinic_roster(ctx, principal_of(request), clinic_id, on, limit)

    @get("/messages", opt=policy(*CARE, resource="clinic"), summary="A day's messages")
    async def messages(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        clinic_id: RowId,
        on: FromQuery[date | None] = None,
        status: FromQuery[MessageState | None] = None,
        limit: Limit = 500,
    ) -> list[reports.MessageOut]:
        return await reports.clinic_messages(
            ctx, principal_of(request), clinic_id, on, status, limit
        )


class AlertController(Controller):
    path = "/alerts"
    tags = ["alerts"]
    dependencies = DEPENDENCIES

    @get("/", opt=policy(*CARE, resource="alert"), summary="Dropout-risk alerts")
    async def list_alerts(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        clinic_id: QueryRowId = None,
        status: FromQuery[AlertState | None] = None,
        patient_id: QueryRowId = None,
    ) -> list[reports.AlertOut]:
        return await reports.list_alerts(ctx, principal_of(request), clinic_id, status, patient_id)

    @post("/{alert_id:int}/acknowledge", opt=policy(*CARE, resource="alert"), status_code=200)
    async def acknowledge(
        self, ctx: NamedDependency[Scheduler], request: Req, alert_id: RowId
    ) -> reports.AlertOut:
        return await reports.acknowledge_alert(ctx, principal_of(request), alert_id)

    @post(
        "/{alert_id:int}/followups",
        opt=policy(*CARE, resource="alert"),
        status_code=201,
        summary="A follow-up note with an outcome, signed with the writer's name",
    )
    async def add_followup(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        alert_id: RowId,
        data: JSONBody[FollowupIn],
    ) -> FollowupOut:
        return await alert_followups.add_followup(ctx, principal_of(request), alert_id, data)
