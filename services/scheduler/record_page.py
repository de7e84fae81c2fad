"""What a patient's record page shows, and the record of every opening.

The link (record_links.py) names the reply message that carried it, never the patient. The
page shows this month's calendar of visits (services.scheduler.monthly), the urine tests
and risk assessments, newest first, and the clinic's phone and opening hours. It shows
nothing (410, and the same words whatever the reason, so that the page itself tells no one
why) once the link has expired, or when the patient has been discharged, has opted out, or
is no longer at the clinic that sent the link. Every opening of a genuine link is recorded
(`RecordView`: shown, expired or withdrawn), in the transaction that read the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import Row, select

from services.scheduler import monthly
from services.scheduler.clinic_calendar import special_hours
from services.scheduler.models import Message, Patient, UrineTest
from services.scheduler.patients import Scheduler, load_patient
from services.scheduler.record_links import RecordLink
from services.scheduler.risk_models import ClinicCalendar, ClinicDay, RecordView, RiskAssessment
from shared.access.clinics import ClinicOut, get_clinic
from shared.access.tokens import Principal, Role
from shared.errors import NotFound

HISTORY_ROWS = 12


class Gone(Exception):
    """The link is genuine but shows nothing now (expired, discharged, opted out, moved)."""


SPECIAL_DAYS_AHEAD = 14  # the changed or closed days a patient sees coming


@dataclass(frozen=True)
class RecordPage:
    language: str
    explicit: bool
    calendar: monthly.MonthCalendar
    urine_tests: list[tuple[date, str]]  # (taken on, result), newest first
    assessments: list[tuple[date, str]]  # (local day, band), newest first
    clinic: ClinicOut
    # The clinic's weekly hours ("mon".."sun" -> ["07:00-11:30", ...], [] closed), or None
    # for a clinic without them (its single opening time shows), and its special days in
    # the next fortnight: (day, intervals; [] closed).
    week: dict[str, list[str]] | None = None
    special_days: list[tuple[date, list[str]]] = field(default_factory=list)


def _own_clinic(clinic_id: int) -> Principal:
    # The link stands for the patient: it reads their own clinic, as its staff would.
    return Principal("record-page", Role.COORDINATOR, frozenset({clinic_id}))


def _withdrawn(patient: Patient, message: Message) -> bool:
    return (
        patient.state == "discharged"
        or patient.opted_out_at is not None
        or patient.clinic_id != message.clinic_id
    )


async def open_record(ctx: Scheduler, link: RecordLink, *, expired: bool) -> RecordPage:
    """The page for a verified link; `Gone` when it shows nothing; NotFound when the link
    names no record reply (it was never ours to show)."""
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        message = await session.get(Message, link.reader)
        if message is None or message.kind != "record_reply":
            raise NotFound("no such record")
        patient = await session.get(Patient, message.patient_id)
        if patient is None:
            raise NotFound("no such record")
        outcome = "expired" if expired else "withdrawn" if _withdrawn(patient, message) else "shown"
        session.add(
            RecordView(patient_id=patient.id, reader=message.id, outcome=outcome, viewed_at=now)
        )
        tests: Sequence[Row[date, str]] = []
        risks: Sequence[Row[datetime, str]] = []
        if outcome == "shown":
            tests = (
                await session.execute(
                    select(UrineTest.taken_on, UrineTest.result)
                    .where(UrineTest.patient_id == patient.id)
                    .order_by(UrineTest.taken_on.desc())
                    .limit(HISTORY_ROWS)
                )
            ).all()
            risks = (
                await session.execute(
                    select(RiskAssessment.assessed_at, RiskAssessment.band)
                    .where(RiskAssessment.patient_id == patient.id)
                    .order_by(RiskAssessment.assessed_at.desc())
                    .limit(HISTORY_ROWS)
                )
            ).all()
        explicit, zone, patient_id = patient.explicit_wording, patient.time_zone, patient.id
        clinic_id = patient.clinic_id
    if outcome != "shown":
        raise Gone()  # after the commit: the view is recorded all the same
    principal = _own_clinic(clinic_id)
    calendar = await monthly.month_calendar(ctx, principal, patient_id, None)
    clinic = await get_clinic(ctx.access_db, principal, clinic_id)
    week, special = await _hours(ctx, clinic_id, datetime.now(ZoneInfo(clinic.time_zone)).date())
    return RecordPage(
        language=link.language,
        explicit=explicit,
        calendar=calendar,
        urine_tests=[(taken_on, result) for taken_on, result in tests],
        assessments=[(_local_day(at, zone), band) for at, band in risks],
        clinic=clinic,
        week=week,
        special_days=special,
    )


async def _hours(
    ctx: Scheduler, clinic_id: int, today: date
) -> tuple[dict[str, list[str]] | None, list[tuple[date, list[str]]]]:
    """The clinic's weekly hours and its special days of the next fortnight (from today)."""
    async with ctx.db.sessions() as session:
        week = await session.scalar(
            select(ClinicCalendar.week).where(ClinicCalendar.clinic_id == clinic_id)
        )
        days = (
            await session.execute(
                select(ClinicDay)
                .where(
                    ClinicDay.clinic_id == clinic_id,
                    ClinicDay.day >= today,
                    ClinicDay.day <= today + timedelta(days=SPECIAL_DAYS_AHEAD),
                )
                .order_by(ClinicDay.day)
            )
        ).scalars()
        special = []
        for entry in days:
            hours = special_hours(entry)
            if hours is not None:  # None: a day flagged for lessons only, hours as usual
                special.append((entry.day, [f"{a:%H:%M}-{b:%H:%M}" for a, b in hours]))
    return week, special


def _local_day(at: datetime, zone: str) -> date:
    return at.astimezone(ZoneInfo(zone)).date()


class RecordViewOut(msgspec.Struct, kw_only=True):
    outcome: str  # shown, expired, withdrawn
    viewed_at: datetime


async def list_views(ctx: Scheduler, principal: Principal, patient_id: int) -> list[RecordViewOut]:
    """Every opening of the patient's record links, newest first (clinic-scoped)."""
    async with ctx.db.sessions() as session:
        patient = await load_patient(session, principal, patient_id)
        rows = (
            await session.execute(
                select(RecordView.outcome, RecordView.viewed_at)
                .where(RecordView.patient_id == patient.id)
                .order_by(RecordView.viewed_at.desc(), RecordView.id.desc())
                .limit(500)
            )
        ).all()
    return [RecordViewOut(outcome=outcome, viewed_at=at) for outcome, at in rows]
