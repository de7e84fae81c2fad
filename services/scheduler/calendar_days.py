"""A clinic's calendar of special days (Spring Festival, a public holiday, a closure): set,
clear and list them; each change re-plans the affected day at once, set-based.

A day is closed, or open at other hours. Setting or clearing one drops that day's dose
plans not yet released for the clinic's patients (and those a closure suppressed) and
plans again from the calendar (planner.plan_ahead for the clinic: a day beyond the
planner's horizon is simply planned by its calendar when the planner gets there).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import and_, delete, or_, select

from services.scheduler import planner
from services.scheduler.clinic_calendar import CLOSED_REASON, survey_start
from services.scheduler.models import Occurrence, Patient
from services.scheduler.patients import Scheduler
from services.scheduler.planner.ahead import NOTICE
from services.scheduler.risk_models import ClinicDay
from services.scheduler.schemas import HHMM
from services.scheduler.timeplan import local_today
from shared.access.clinics import ClinicOut, get_clinic
from shared.access.tokens import Principal
from shared.errors import InvalidInput


class ClinicDayIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    closed: bool = False
    skip_lessons: bool = False  # a closed day sends no lesson either (the clinic's choice)
    skip_surveys: bool = False  # a closed day's survey questions wait for the next day
    opens_at: HHMM | None = None  # with closes_at, when the day is open at other hours
    closes_at: HHMM | None = None
    note: Annotated[str, msgspec.Meta(max_length=80)] | None = None  # e.g. 春节


class ClinicDayOut(msgspec.Struct, kw_only=True):
    clinic_id: int
    day: date
    closed: bool
    skip_lessons: bool
    skip_surveys: bool
    opens_at: str | None
    closes_at: str | None
    note: str | None
    replanned: int | None = None  # dose plans made again for the day, on a change


def _hhmm(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


def _out(row: ClinicDay, replanned: int | None = None) -> ClinicDayOut:
    return ClinicDayOut(
        clinic_id=row.clinic_id,
        day=row.day,
        closed=row.closed,
        skip_lessons=row.skip_lessons,
        skip_surveys=row.skip_surveys,
        opens_at=_hhmm(row.opens_at),
        closes_at=_hhmm(row.closes_at),
        note=row.note,
        replanned=replanned,
    )


def _hours(data: ClinicDayIn) -> tuple[time | None, time | None]:
    if data.skip_lessons and not data.closed:
        raise InvalidInput("skip_lessons: only a closed day keeps lessons away")
    if data.skip_surveys and not data.closed:
        raise InvalidInput("skip_surveys: only a closed day keeps surveys away")
    if data.closed:
        if data.opens_at or data.closes_at:
            raise InvalidInput("opens_at: a closed day has no hours (leave them out)")
        return None, None
    if not data.opens_at or not data.closes_at:
        raise InvalidInput("opens_at, closes_at: give both, or closed: true")
    opens, closes = time.fromisoformat(data.opens_at), time.fromisoformat(data.closes_at)
    if opens >= closes:
        raise InvalidInput("closes_at: must be after opens_at")
    return opens, closes


async def _clinic(ctx: Scheduler, principal: Principal, clinic_id: int, day: date) -> ClinicOut:
    clinic = await get_clinic(ctx.access_db, principal, clinic_id)  # 404 outside scope
    if day < local_today(ctx.clock(), clinic.time_zone):
        raise InvalidInput("day: is in the past")
    return clinic


async def replan(ctx: Scheduler, clinic_id: int, day: date | None) -> int:
    """Drop the clinic's plans not yet released that its calendar shapes and plan them
    again: for a special `day`, that day's dose reminders (and those a closure suppressed),
    lessons and the take-home notice planned the day before; for a change of the weekly
    calendar (`day` None), every unreleased dose reminder and notice."""
    notices = Occurrence.kind == NOTICE
    if day is None:
        shaped = or_(Occurrence.kind == "dose", notices)
    else:
        shaped = or_(
            and_(Occurrence.kind.in_(("dose", "lesson")), Occurrence.local_date == day),
            and_(notices, Occurrence.slot == f"{NOTICE}:{day.isoformat()}"),
        )
    async with ctx.db.transaction() as session:
        await session.execute(
            delete(Occurrence).where(
                shaped,
                or_(
                    Occurrence.state == "planned",
                    and_(Occurrence.state == "suppressed", Occurrence.reason == CLOSED_REASON),
                ),
                Occurrence.patient_id.in_(select(Patient.id).where(Patient.clinic_id == clinic_id)),
            )
        )
    return await planner.plan_ahead(ctx.db, ctx.config, ctx.clock(), clinic_ids=[clinic_id])


async def set_day(
    ctx: Scheduler, principal: Principal, clinic_id: int, day: date, data: ClinicDayIn
) -> ClinicDayOut:
    await _clinic(ctx, principal, clinic_id, day)
    opens, closes = _hours(data)
    async with ctx.db.transaction() as session:
        row = (
            await session.execute(
                select(ClinicDay).where(ClinicDay.clinic_id == clinic_id, ClinicDay.day == day)
            )
        ).scalar_one_or_none()
        if row is None:
            row = ClinicDay(clinic_id=clinic_id, day=day)
            session.add(row)
        row.closed, row.opens_at, row.closes_at = data.closed, opens, closes
        row.skip_lessons, row.skip_surveys = data.skip_lessons, data.skip_surveys
        row.note = data.note.strip() if data.note else None
        row.updated_by, row.updated_at = principal.token_id, datetime.now(UTC)
    replanned = await replan(ctx, clinic_id, day)
    if data.skip_surveys:
        await _move_surveys(ctx, clinic_id, day)
    return _out(row, replanned)


async def _move_surveys(ctx: Scheduler, clinic_id: int, day: date) -> None:
    """Survey questions already planned for a day that now keeps surveys away wait as a
    question asked now would (clinic_calendar.survey_start), their window kept."""
    async with ctx.db.transaction() as session:
        rows = await session.execute(
            select(Occurrence, Patient.time_zone)
            .join(Patient, Patient.id == Occurrence.patient_id)
            .where(
                Patient.clinic_id == clinic_id,
                Occurrence.kind == "survey",
                Occurrence.state == "planned",
                Occurrence.local_date == day,
            )
            .with_for_update(of=Occurrence)
        )
        for occurrence, zone in rows.all():
            window = occurrence.expires_at - occurrence.due_at
            start = await survey_start(
                session, clinic_id, occurrence.due_at.astimezone(ZoneInfo(zone))
            )
            occurrence.due_at, occurrence.local_date = start.astimezone(UTC), start.date()
            occurrence.expires_at = occurrence.due_at + window


async def clear_day(ctx: Scheduler, principal: Principal, clinic_id: int, day: date) -> None:
    """The day is an ordinary one again (no error if it was one already)."""
    await _clinic(ctx, principal, clinic_id, day)
    async with ctx.db.transaction() as session:
        await session.execute(
            delete(ClinicDay).where(ClinicDay.clinic_id == clinic_id, ClinicDay.day == day)
        )
    await replan(ctx, clinic_id, day)


async def list_days(
    ctx: Scheduler, principal: Principal, clinic_id: int, since: date | None
) -> list[ClinicDayOut]:
    clinic = await get_clinic(ctx.access_db, principal, clinic_id)
    first = since or local_today(ctx.clock(), clinic.time_zone)
    async with ctx.db.sessions() as session:
        rows = (
            await session.execute(
                select(ClinicDay)
                .where(ClinicDay.clinic_id == clinic_id, ClinicDay.day >= first)
                .order_by(ClinicDay.day)
                .limit(500)
            )
        ).scalars()
        return [_out(row) for row in rows]
