"""What coordinators read: a patient's timeline and adherence, a clinic's day, alerts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import bindparam, func, select

from services.scheduler.alert_followups import FollowupOut, followups_of, latest_outcome
from services.scheduler.models import Alert, Attempt, Dose, Message, Patient, UrineTest
from services.scheduler.patients import Scheduler, load_patient
from services.scheduler.timeplan import local_today
from shared.access.models import Clinic
from shared.access.tokens import Principal
from shared.errors import Conflict, InvalidInput, NotFound

_CLINIC_ZONE = select(Clinic.time_zone).where(Clinic.id == bindparam("clinic_id"))


async def clinic_today(ctx: Scheduler, clinic_id: int) -> date:
    """ "Today" as the clinic counts it (a server in UTC is a day behind Beijing at 07:00)."""
    async with ctx.access_db.autocommit() as conn:
        zone = (await conn.execute(_CLINIC_ZONE, {"clinic_id": clinic_id})).scalar_one_or_none()
    return local_today(ctx.clock(), zone or "Asia/Shanghai")


class TimelineEntry(msgspec.Struct, kw_only=True):
    at: datetime
    type: str  # message, attempt, dose, urine_test
    detail: dict[str, Any]


class Adherence(msgspec.Struct, kw_only=True):
    patient_id: int
    requested_days: int  # `days` as asked (at most 366; more is a 400)
    first_day: date  # the first day counted: `requested_days` ago, or enrolment if later
    days: int  # days counted, first_day to today: fewer than asked for a recent patient
    doses: int
    rate: float
    current_streak: int  # consecutive days with a dose, ending today or yesterday
    missed_streak: int  # consecutive days without one, ending today
    daily: list[bool]  # oldest first


class ClinicDay(msgspec.Struct, kw_only=True):
    clinic_id: int
    local_date: date
    messages_by_state: dict[str, int]
    doses_recorded: int
    active_patients: int


class MessageOut(msgspec.Struct, kw_only=True):
    id: str
    patient_id: int
    kind: str
    state: str
    reason: str | None
    channel: str | None
    attempts: int
    updated_at: datetime


class AlertOut(msgspec.Struct, kw_only=True):
    id: int
    patient_id: int
    clinic_id: int
    kind: str
    raised_on: date
    details: dict[str, Any]
    state: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    outcome: str | None = None  # the latest follow-up's (services/scheduler/alert_followups)
    followups: list[FollowupOut] = msgspec.field(default_factory=list)


# The coordinator reads' statements are built once, with bound parameters: a statement
# made per request cost more CPU (building it, its cache key, adapting the cached result
# columns to it) than running it (docs/benchmarks.md, "Coordinator reads").
_PATIENT_CLINIC = select(Patient.clinic_id).where(Patient.id == bindparam("patient_id"))
_TIMELINE_MESSAGES = (
    select(
        Message.id,
        Message.created_at,
        Message.kind,
        Message.state,
        Message.reason,
        Message.channel,
        Message.local_date,
    )
    .where(Message.patient_id == bindparam("patient_id"))
    .order_by(Message.created_at.desc())
    .limit(bindparam("limit"))
)
_TIMELINE_ATTEMPTS = (
    select(Attempt.message_id, Attempt.at, Attempt.channel, Attempt.outcome, Attempt.error)
    .join(Message)
    .where(Message.patient_id == bindparam("patient_id"))
    .order_by(Attempt.at.desc())
    .limit(bindparam("limit"))
)
_TIMELINE_DOSES = (
    select(Dose.taken_at, Dose.local_date, Dose.mg)
    .where(Dose.patient_id == bindparam("patient_id"))
    .order_by(Dose.taken_at.desc())
    .limit(bindparam("limit"))
)
_TIMELINE_TESTS = (
    select(UrineTest.taken_on, UrineTest.result, UrineTest.substances)
    .where(UrineTest.patient_id == bindparam("patient_id"))
    .order_by(UrineTest.taken_on.desc())
    .limit(bindparam("limit"))
)


async def timeline(
    ctx: Scheduler, principal: Principal, patient_id: int, limit: int = 200
) -> list[TimelineEntry]:
    # Core rows of the columns shown, on one connection outside a transaction: a frequent
    # coordinator read needs neither ORM objects nor a snapshot.
    params = {"patient_id": patient_id, "limit": limit}
    async with ctx.db.autocommit() as conn:
        clinic_id = (await conn.execute(_PATIENT_CLINIC, params)).scalar_one_or_none()
        if clinic_id is None or not principal.can_access_clinic(clinic_id):
            raise NotFound(f"no patient {patient_id}")
        messages = await conn.execute(_TIMELINE_MESSAGES, params)
        attempts = await conn.execute(_TIMELINE_ATTEMPTS, params)
        doses = await conn.execute(_TIMELINE_DOSES, params)
        tests = await conn.execute(_TIMELINE_TESTS, params)
    entries = [
        TimelineEntry(
            at=m.created_at,
            type="message",
            detail={
                "id": m.id,
                "kind": m.kind,
                "state": m.state,
                "reason": m.reason,
                "channel": m.channel,
                "local_date": m.local_date.isoformat(),
            },
        )
        for m in messages
    ]
    entries += [
        TimelineEntry(
            at=a.at,
            type="attempt",
            detail={
                "message_id": a.message_id,
                "channel": a.channel,
                "outcome": a.outcome,
                "error": a.error,
            },
        )
        for a in attempts
    ]
    entries += [
        TimelineEntry(
            at=d.taken_at, type="dose", detail={"local_date": d.local_date.isoformat(), "mg": d.mg}
        )
        for d in doses
    ]
    entries += [
        TimelineEntry(
            at=datetime.combine(t.taken_on, datetime.min.time(), UTC),
            type="urine_test",
            detail={"result": t.result, "substances": t.substances},
        )
        for t in tests
    ]
    return sorted(entries, key=lambda e: e.at, reverse=True)[:limit]


async def adherence(
    ctx: Scheduler, principal: Principal, patient_id: int, days: int = 30
) -> Adherence:
    if not 1 <= days <= 366:
        raise InvalidInput("days must be between 1 and 366")
    async with ctx.db.sessions() as session:
        patient = await load_patient(session, principal, patient_id)
        today = local_today(datetime.now(UTC), patient.time_zone)
        first = max(
            today - timedelta(days=days - 1),
            local_today(patient.enrolled_at, patient.time_zone),
        )
        dosed = set(
            (
                await session.execute(
                    select(Dose.local_date).where(
                        Dose.patient_id == patient_id, Dose.local_date >= first
                    )
                )
            ).scalars()
        )
    daily = [first + timedelta(days=i) in dosed for i in range((today - first).days + 1)]
    current = 0
    for taken in reversed(daily[:-1] if daily and not daily[-1] else daily):
        if not taken:
            break
        current += 1
    missed = 0
    for taken in reversed(daily):
        if taken:
            break
        missed += 1
    return Adherence(
        patient_id=patient_id,
        requested_days=days,
        first_day=first,
        days=len(daily),
        doses=sum(daily),
        rate=round(sum(daily) / len(daily), 3) if daily else 0.0,
        current_streak=current,
        missed_streak=missed,
        daily=daily,
    )


_DAY_STATES = (
    select(Message.state, func.count())
    .where(Message.clinic_id == bindparam("clinic_id"), Message.local_date == bindparam("day"))
    .group_by(Message.state)
)
# Both counts in one round trip: this is a coordinator's most frequent read.
_DAY_COUNTS = select(
    select(func.count())
    .select_from(Dose)
    .join(Patient)
    .where(Patient.clinic_id == bindparam("clinic_id"), Dose.local_date == bindparam("day"))
    .scalar_subquery(),
    select(func.count())
    .select_from(Patient)
    .where(Patient.clinic_id == bindparam("clinic_id"), Patient.state == "active")
    .scalar_subquery(),
)


async def clinic_day(
    ctx: Scheduler, principal: Principal, clinic_id: int, day: date | None
) -> ClinicDay:
    if not principal.can_access_clinic(clinic_id):
        raise NotFound(f"no clinic {clinic_id}")
    day = day or await clinic_today(ctx, clinic_id)
    params = {"clinic_id": clinic_id, "day": day}
    async with ctx.db.autocommit() as conn:
        states = {row[0]: row[1] for row in await conn.execute(_DAY_STATES, params)}
        doses, active = (await conn.execute(_DAY_COUNTS, params)).one()
    return ClinicDay(
        clinic_id=clinic_id,
        local_date=day,
        messages_by_state=states,
        doses_recorded=doses,
        active_patients=active,
    )


async def clinic_messages(
    ctx: Scheduler,
    principal: Principal,
    clinic_id: int,
    day: date | None,
    state: str | None,
    limit: int,
) -> list[MessageOut]:
    if not principal.can_access_clinic(clinic_id):
        raise NotFound(f"no clinic {clinic_id}")
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000")
    day = day or await clinic_today(ctx, clinic_id)
    query = (
        select(Message)
        .where(Message.clinic_id == clinic_id, Message.local_date == day)
        .order_by(Message.created_at)
        .limit(limit)
    )
    if state is not None:
        query = query.where(Message.state == state)
    async with ctx.db.sessions() as session:
        return [
            MessageOut(
                id=m.id,
                patient_id=m.patient_id,
                kind=m.kind,
                state=m.state,
                reason=m.reason,
                channel=m.channel,
                attempts=m.attempts,
                updated_at=m.updated_at,
            )
            for m in (await session.execute(query)).scalars()
        ]


def _alert_out(alert: Alert, notes: list[FollowupOut] | None = None) -> AlertOut:
    notes = notes or []
    return AlertOut(
        id=alert.id,
        patient_id=alert.patient_id,
        clinic_id=alert.clinic_id,
        kind=alert.kind,
        raised_on=alert.raised_on,
        details=alert.details,
        state=alert.state,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
        outcome=latest_outcome(notes),
        followups=notes,
    )


async def list_alerts(
    ctx: Scheduler,
    principal: Principal,
    clinic_id: int | None,
    state: str | None,
    patient_id: int | None = None,
) -> list[AlertOut]:
    query = select(Alert).order_by(Alert.raised_on.desc(), Alert.id.desc()).limit(500)
    if clinic_id is not None:
        if not principal.can_access_clinic(clinic_id):
            return []
        query = query.where(Alert.clinic_id == clinic_id)
    elif not principal.all_clinics:
        query = query.where(Alert.clinic_id.in_(principal.clinic_ids))
    if state is not None:
        query = query.where(Alert.state == state)
    if patient_id is not None:
        query = query.where(Alert.patient_id == patient_id)
    async with ctx.db.sessions() as session:
        alerts = list((await session.execute(query)).scalars())
        notes = await followups_of(session, (a.id for a in alerts))
    return [_alert_out(a, notes.get(a.id)) for a in alerts]


async def acknowledge_alert(ctx: Scheduler, principal: Principal, alert_id: int) -> AlertOut:
    async with ctx.db.transaction() as session:
        alert = await session.get(Alert, alert_id, with_for_update=True)
        if alert is None or not principal.can_access_clinic(alert.clinic_id):
            raise NotFound(f"no alert {alert_id}")
        if alert.state == "acknowledged":
            raise Conflict("alert already acknowledged")
        alert.state, alert.acknowledged_by = "acknowledged", principal.token_id
        alert.acknowledged_at = datetime.now(UTC)
        notes = await followups_of(session, [alert.id])
    return _alert_out(alert, notes.get(alert.id))
