"""Observed doses, urine tests, missed doses and dropout-risk alerts.

A dose is recorded by the clinic's dispensing system (singly or in batches); it suppresses
that day's reminder. After a clinic closes, patients with no dose that day get a supportive
message the next morning, and `missed_days_alert` missed days in a row raise an alert a
coordinator acknowledges. All of it is set-based: one statement per clinic, not per patient.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.models import Alert, Dose, Occurrence, Outbox, Patient, UrineTest
from services.scheduler.patients import Scheduler, load_patient
from services.scheduler.schemas import DoseBatchIn, DoseBatchOut, DoseIn, ReminderIn, UrineTestIn
from services.scheduler.settings import SchedulerSettings
from services.scheduler.studies.policy import withheld
from services.scheduler.timeplan import local_today, reminder_time
from shared.access.models import Clinic
from shared.access.tokens import Principal
from shared.bus import add_to_outbox
from shared.db import Database
from shared.errors import Conflict, InvalidInput, NotFound
from shared.logging import get_logger
from shared.messages import DropoutRiskRaised

log = get_logger(__name__)


def _insert(db: Database) -> Any:
    return sqlite.insert if db.is_sqlite else postgresql.insert


def check_time(taken_at: datetime, now: datetime) -> None:
    if taken_at.tzinfo is None:
        raise InvalidInput("taken_at needs a time zone offset, e.g. 2026-11-24T08:05:00+08:00")
    if taken_at > now + timedelta(minutes=5):
        raise InvalidInput("taken_at is in the future")


async def insert_doses(ctx: Scheduler, rows: list[tuple[Patient, DoseIn]]) -> int:
    now = datetime.now(UTC)
    values = [
        {
            "patient_id": p.id,
            "local_date": local_today(d.taken_at, p.time_zone),
            "taken_at": d.taken_at,
            "mg": d.mg,
            "recorded_at": now,
        }
        for p, d in rows
    ]
    statement = (
        _insert(ctx.db)(Dose)
        .values(values)
        .on_conflict_do_nothing(index_elements=["patient_id", "local_date"])
    )
    async with ctx.db.transaction() as session:
        result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


async def record_dose(
    ctx: Scheduler, principal: Principal, patient_id: int, dose: DoseIn
) -> DoseBatchOut:
    check_time(dose.taken_at, datetime.now(UTC))
    async with ctx.db.sessions() as session:
        patient = await load_patient(session, principal, patient_id)
    recorded = await insert_doses(ctx, [(patient, dose)])
    return DoseBatchOut(recorded=recorded, already_recorded=1 - recorded)


async def record_clinic_doses(
    ctx: Scheduler, principal: Principal, clinic_id: int, batch: DoseBatchIn
) -> DoseBatchOut:
    """A dispensing system's batch: all or nothing, patients named by clinic number."""
    if not principal.can_access_clinic(clinic_id):
        raise NotFound(f"no clinic {clinic_id}")
    now = datetime.now(UTC)
    numbers = {row.clinic_number for row in batch.doses}
    async with ctx.db.sessions() as session:
        patients = {
            p.clinic_number: p
            for p in (
                await session.execute(
                    select(Patient).where(
                        Patient.clinic_id == clinic_id, Patient.clinic_number.in_(numbers)
                    )
                )
            ).scalars()
        }
    unknown = sorted(numbers - patients.keys())
    if unknown:
        raise InvalidInput(f"unknown clinic numbers (nothing recorded): {', '.join(unknown[:20])}")
    rows = []
    for row in batch.doses:
        check_time(row.taken_at, now)
        rows.append((patients[row.clinic_number], DoseIn(taken_at=row.taken_at, mg=row.mg)))
    recorded = await insert_doses(ctx, rows)
    return DoseBatchOut(recorded=recorded, already_recorded=len(rows) - recorded)


async def record_urine_test(
    ctx: Scheduler, principal: Principal, patient_id: int, test: UrineTestIn
) -> None:
    if test.taken_on > date.today() + timedelta(days=1):
        raise InvalidInput("taken_on is in the future")
    async with ctx.db.transaction() as session:
        patient = await load_patient(session, principal, patient_id)
        session.add(
            UrineTest(
                patient_id=patient.id,
                taken_on=test.taken_on,
                result=test.result,
                substances=list(test.substances),
                recorded_at=datetime.now(UTC),
            )
        )


async def plan_missed_dose_support(
    db: Database,
    settings: SchedulerSettings,
    now: datetime,
    clinics: list[Clinic] | None = None,
    access_db: Database | None = None,
) -> int:
    """For each clinic already closed today: a supportive message tomorrow morning for every
    active patient with no dose today, and an alert after N missed days in a row."""
    if clinics is None:
        if access_db is None:
            return 0
        async with access_db.sessions() as session:
            clinics = list((await session.execute(select(Clinic))).scalars())
    planned = 0
    for clinic in clinics:
        today = local_today(now, clinic.time_zone)
        closed = reminder_time(
            today, clinic.closes_at, clinic.time_zone, clinic.closes_at, clinic.closes_at
        )
        if now < closed:
            continue
        try:
            planned += await _missed_for_clinic(db, settings, clinic.id, today, now)
        except Exception as exc:  # one clinic's trouble must not stop the others' support
            log.error("missed_doses.clinic_failed", clinic_id=clinic.id, error=type(exc).__name__)
    return planned


def _no_dose_on(day: date) -> Any:
    return ~exists().where(Dose.patient_id == Patient.id, Dose.local_date == day)


async def _missed_for_clinic(
    db: Database, settings: SchedulerSettings, clinic_id: int, today: date, now: datetime
) -> int:
    tomorrow = today + timedelta(days=1)
    missed_today = select(Patient).where(
        Patient.clinic_id == clinic_id,
        Patient.state == "active",
        Patient.opted_out_at.is_(None),
        func.date(Patient.enrolled_at) <= today,
        _no_dose_on(today),
    )
    async with db.transaction() as session:
        groups = (
            await session.execute(
                missed_today.with_only_columns(
                    Patient.time_zone, Patient.dose_time, Patient.quiet_start, Patient.quiet_end
                ).distinct()
            )
        ).all()
        planned = 0
        window = timedelta(minutes=settings.dose_window_minutes)
        for zone, dose_time, quiet_start, quiet_end in groups:
            due = reminder_time(tomorrow, dose_time, zone, quiet_start, quiet_end)
            who = missed_today.where(
                Patient.time_zone == zone,
                Patient.dose_time == dose_time,
                Patient.quiet_start == quiet_start,
                Patient.quiet_end == quiet_end,
                # Support goes with dose reminders: not to a study arm without them (the
                # alert below still reaches staff for every arm).
                ~withheld("dose_reminders"),
            )
            result = await session.execute(
                _insert(db)(Occurrence)
                .from_select(
                    ["patient_id", "kind", "local_date", "slot", "due_at", "expires_at", "state"],
                    who.with_only_columns(
                        Patient.id,
                        literal("missed_dose"),
                        literal(tomorrow),
                        literal("missed"),
                        literal(due),
                        literal(due + window),
                        literal("planned"),
                    ),
                )
                .on_conflict_do_nothing(index_elements=["patient_id", "kind", "local_date", "slot"])
            )
            planned += int(getattr(result, "rowcount", 0) or 0)
        await _raise_alerts(session, settings, clinic_id, today, now)
    return planned


async def _raise_alerts(
    session: AsyncSession, settings: SchedulerSettings, clinic_id: int, today: date, now: datetime
) -> None:
    days = settings.missed_days_alert
    first = today - timedelta(days=days - 1)
    streak = [_no_dose_on(first + timedelta(days=i)) for i in range(days)]
    at_risk = (
        (
            await session.execute(
                select(Patient.id).where(
                    Patient.clinic_id == clinic_id,
                    Patient.state == "active",
                    func.date(Patient.enrolled_at) <= first,
                    and_(*streak),
                    # One open alert at a time, and at most one a day (an alert acknowledged
                    # this evening must not be raised again by the next tick).
                    ~exists().where(
                        Alert.patient_id == Patient.id,
                        Alert.kind == "dropout_risk",
                        or_(Alert.state == "open", Alert.raised_on == today),
                    ),
                )
            )
        )
        .scalars()
        .all()
    )
    for patient_id in at_risk:
        last = (
            await session.execute(
                select(func.max(Dose.local_date)).where(Dose.patient_id == patient_id)
            )
        ).scalar_one()
        alert = Alert(
            patient_id=patient_id,
            clinic_id=clinic_id,
            kind="dropout_risk",
            raised_on=today,
            state="open",
            details={"missed_days": days, "last_dose_on": last.isoformat() if last else None},
        )
        session.add(alert)
        await session.flush()
        add_to_outbox(
            session,
            Outbox,
            DropoutRiskRaised(
                alert_id=alert.id,
                patient_id=patient_id,
                clinic_id=clinic_id,
                missed_days=days,
                last_dose_on=last.isoformat() if last else None,
            ),
        )
    del now


async def add_reminder(
    ctx: Scheduler, principal: Principal, patient_id: int, data: ReminderIn
) -> None:
    """A urine-test or appointment reminder on a given day, at a local time."""
    async with ctx.db.transaction() as session:
        patient = await load_patient(session, principal, patient_id)
        if data.on < local_today(ctx.clock(), patient.time_zone):
            raise InvalidInput("on is in the past")
        due = reminder_time(
            data.on,
            time.fromisoformat(data.at),
            patient.time_zone,
            patient.quiet_start,
            patient.quiet_end,
        )
        result = await session.execute(
            _insert(ctx.db)(Occurrence)
            .values(
                patient_id=patient.id,
                kind=data.kind,
                local_date=data.on,
                slot=data.at,
                due_at=due,
                expires_at=due + timedelta(minutes=ctx.config.dose_window_minutes),
                state="planned",
            )
            .on_conflict_do_nothing(index_elements=["patient_id", "kind", "local_date", "slot"])
        )
    if not getattr(result, "rowcount", 0):
        raise Conflict(f"a {data.kind} reminder on {data.on} at {data.at} exists already")
