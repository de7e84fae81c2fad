"""Enrolment and the life of a patient record: update, pause, resume, discharge, transfer.

Clinic scope is checked here for every call: a coordinator only ever reaches patients of
its own clinics, and a patient outside that scope is "not found" (existence not revealed).
Identifiers are validated, normalised (E.164) and stored encrypted with a look-up hash.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

import phonenumbers
from sqlalchemy import Row, Table, bindparam, delete, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler import planner
from services.scheduler.events import updated_event
from services.scheduler.history import note_state
from services.scheduler.models import Alert, Message, Occurrence, Outbox, Patient
from services.scheduler.schemas import PatientIn, PatientOut, PatientPatch, PauseIn, TransferIn
from services.scheduler.settings import SchedulerSettings
from services.scheduler.tasks.models import Task
from services.scheduler.tasks.rules import OPEN_STATUSES as OPEN_TASKS
from services.scheduler.timeplan import local_today
from shared.access.clinics import valid_time_zone
from shared.access.models import Clinic
from shared.access.tokens import Principal
from shared.bus import add_to_outbox
from shared.crypto import IdentifierCipher
from shared.db import Database
from shared.errors import Conflict, InvalidInput, NotFound, Unavailable
from shared.messages import PatientEnrolled

PATIENTS: Table = Patient.__table__  # type: ignore[assignment]
# Built once: per request, building a statement cost more CPU than running it.
_PATIENT_BY_ID = select(PATIENTS).where(PATIENTS.c.id == bindparam("patient_id"))
_OPENID = re.compile(r"[A-Za-z0-9_-]{20,64}")


@dataclass(frozen=True)
class Scheduler:
    """What the scheduler's service functions need; built once per process."""

    db: Database
    access_db: Database
    cipher: IdentifierCipher | None
    config: SchedulerSettings = field(default_factory=SchedulerSettings)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def plan(self, patient_id: int) -> None:
        """Plan a patient's next reminders at once: a new or changed schedule should not
        wait for the next planner tick."""
        await planner.plan_ahead(self.db, self.config, self.clock(), patient_ids=[patient_id])

    def require_cipher(self) -> IdentifierCipher:
        if self.cipher is None:
            raise Unavailable(
                "identifier keys are not configured: set IDENTIFIER_KEYS "
                "and IDENTIFIER_HMAC_KEY (mmt keys generate)"
            )
        return self.cipher


def normalise_phone(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number, "CN")
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput("phone is not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput("phone is not a valid mobile number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _openid(value: str) -> str:
    if not _OPENID.fullmatch(value):
        raise InvalidInput("wechat_openid must be 20-64 letters, digits, '-' or '_'")
    return value


def _hhmm(value: str) -> time:
    return time.fromisoformat(value)


def _weekdays(days: list[int] | None) -> str | None:
    return ",".join(str(d) for d in sorted(set(days))) if days else None


def to_out(patient: Patient | Row[Any], cipher: IdentifierCipher | None) -> PatientOut:
    """The API's view of a patient, from the ORM object or a Core row of its table."""
    phone = cipher.decrypt(patient.phone_enc) if cipher and patient.phone_enc else None
    return PatientOut(
        id=patient.id,
        clinic_id=patient.clinic_id,
        clinic_number=patient.clinic_number,
        display_name=patient.display_name,
        phone=phone,
        has_wechat=patient.openid_enc is not None,
        channel_order=list(patient.channel_order),
        language=patient.language,
        time_zone=patient.time_zone,
        dose_time=patient.dose_time.strftime("%H:%M"),
        quiet_start=patient.quiet_start.strftime("%H:%M"),
        quiet_end=patient.quiet_end.strftime("%H:%M"),
        lesson_weekdays=[int(d) for d in patient.lesson_weekdays.split(",")]
        if patient.lesson_weekdays
        else None,
        lesson_time=patient.lesson_time.strftime("%H:%M") if patient.lesson_time else None,
        track=patient.track,
        study_arm=patient.study_arm,
        explicit_wording=patient.explicit_wording,
        state=patient.state,
        pause_reason=patient.pause_reason,
        resume_on=patient.resume_on,
        opted_out=patient.opted_out_at is not None,
        consent_version=patient.consent_version,
        consent_given_at=patient.consent_at,
        enrolled_at=patient.enrolled_at,
    )


async def _clinic(ctx: Scheduler, principal: Principal, clinic_id: int) -> Clinic:
    if not principal.can_access_clinic(clinic_id):
        raise NotFound(f"no clinic {clinic_id}")
    async with ctx.access_db.sessions() as session:
        clinic = await session.get(Clinic, clinic_id)
    if clinic is None:
        raise NotFound(f"no clinic {clinic_id}")
    return clinic


_SCHEDULE_FIELDS = {
    "time_zone",
    "dose_time",
    "quiet_start",
    "quiet_end",
    "lesson_weekdays",
    "lesson_time",
}


async def forget_plans(session: AsyncSession, patient_id: int) -> None:
    """Drop what is planned and not yet released: it is planned again from the new
    schedule (or, for a paused patient, when they resume)."""
    await session.execute(
        delete(Occurrence).where(
            Occurrence.patient_id == patient_id,
            Occurrence.state == "planned",
            # Only what the planner makes again: one-off reminders a coordinator set (urine
            # tests, appointments) stay, and are skipped with a reason if the patient is away.
            Occurrence.kind.in_(("dose", "lesson")),
        )
    )


def _check_channels(order: list[str], phone: str | None, openid: str | None) -> None:
    if not order:
        raise InvalidInput("channel_order needs at least one channel")
    if len(set(order)) != len(order):
        raise InvalidInput("channel_order lists a channel twice")
    if "sms" in order and not phone:
        raise InvalidInput("channel_order has sms but no phone is given")
    if "wechat" in order and not openid:
        raise InvalidInput("channel_order has wechat but no wechat_openid is given")


async def enrol(ctx: Scheduler, principal: Principal, data: PatientIn) -> PatientOut:
    cipher = ctx.require_cipher()
    clinic = await _clinic(ctx, principal, data.clinic_id)
    phone = normalise_phone(data.phone) if data.phone else None
    openid = _openid(data.wechat_openid) if data.wechat_openid else None
    _check_channels(list(data.channel_order), phone, openid)
    if data.consent.given_at.tzinfo is None:
        raise InvalidInput("consent.given_at needs a time zone offset")
    now = datetime.now(UTC)
    patient = Patient(
        clinic_id=clinic.id,
        clinic_number=data.clinic_number.strip(),
        display_name=data.display_name.strip(),
        phone_enc=cipher.encrypt(phone) if phone else None,
        phone_hash=cipher.lookup_hash(phone) if phone else None,
        openid_enc=cipher.encrypt(openid) if openid else None,
        openid_hash=cipher.lookup_hash(openid) if openid else None,
        channel_order=list(data.channel_order),
        language=data.language,
        time_zone=valid_time_zone(data.time_zone or clinic.time_zone),
        dose_time=_hhmm(data.dose_time),
        quiet_start=_hhmm(data.quiet_start),
        quiet_end=_hhmm(data.quiet_end),
        lesson_weekdays=_weekdays(data.lesson_weekdays),
        lesson_time=_hhmm(data.lesson_time) if data.lesson_time else None,
        track=data.track,
        study_arm=data.study_arm,
        explicit_wording=data.explicit_wording,
        state="active",
        consent_version=data.consent.version,
        consent_at=data.consent.given_at,
        consent_recorded_by=principal.token_id,
        enrolled_at=now,
        updated_at=now,
    )
    try:
        async with ctx.db.transaction() as session:
            session.add(patient)
            await session.flush()
            note_state(session, patient, now)
            add_to_outbox(
                session,
                Outbox,
                PatientEnrolled(
                    patient_id=patient.id,
                    clinic_id=patient.clinic_id,
                    phone_hash=patient.phone_hash,
                    openid_hash=patient.openid_hash,
                    language=patient.language,
                    study_arm=patient.study_arm,
                ),
            )
    except IntegrityError as exc:
        raise Conflict(
            f"clinic {clinic.code} already has a patient numbered {data.clinic_number!r}"
        ) from exc
    await ctx.plan(patient.id)
    return to_out(patient, cipher)


async def load_patient(
    session: AsyncSession, principal: Principal, patient_id: int, *, lock: bool = False
) -> Patient:
    patient = await session.get(Patient, patient_id, with_for_update=lock)
    if patient is None or not principal.can_access_clinic(patient.clinic_id):
        raise NotFound(f"no patient {patient_id}")
    return patient


async def get(ctx: Scheduler, principal: Principal, patient_id: int) -> PatientOut:
    # A Core row, not an ORM object: the most frequent coordinator read needs no session.
    async with ctx.db.autocommit() as conn:
        row = (await conn.execute(_PATIENT_BY_ID, {"patient_id": patient_id})).first()
    if row is None or not principal.can_access_clinic(row.clinic_id):
        raise NotFound(f"no patient {patient_id}")
    return to_out(row, ctx.cipher)


async def search(
    ctx: Scheduler,
    principal: Principal,
    *,
    clinic_id: int | None,
    clinic_number: str | None,
    phone: str | None,
    state: str | None,
    after_id: int | None,
    limit: int,
) -> list[PatientOut]:
    if not 1 <= limit <= 500:
        raise InvalidInput("limit must be between 1 and 500")
    query = select(Patient).order_by(Patient.id).limit(limit)
    if clinic_id is not None:
        if not principal.can_access_clinic(clinic_id):
            return []
        query = query.where(Patient.clinic_id == clinic_id)
    elif not principal.all_clinics:
        query = query.where(Patient.clinic_id.in_(principal.clinic_ids))
    if clinic_number is not None:
        query = query.where(Patient.clinic_number == clinic_number)
    if phone is not None:
        query = query.where(
            Patient.phone_hash == ctx.require_cipher().lookup_hash(normalise_phone(phone))
        )
    if state is not None:
        query = query.where(Patient.state == state)
    if after_id is not None:
        query = query.where(Patient.id > after_id)
    async with ctx.db.sessions() as session:
        return [to_out(p, ctx.cipher) for p in (await session.execute(query)).scalars()]


async def update(
    ctx: Scheduler, principal: Principal, patient_id: int, patch: PatientPatch
) -> PatientOut:
    cipher = ctx.require_cipher()
    async with ctx.db.transaction() as session:
        patient = await load_patient(session, principal, patient_id, lock=True)
        changes: dict[str, Any] = {}
        if patch.phone is not None:
            phone = normalise_phone(patch.phone)
            changes |= {"phone_enc": cipher.encrypt(phone), "phone_hash": cipher.lookup_hash(phone)}
        if patch.wechat_openid is not None:
            openid = _openid(patch.wechat_openid)
            changes |= {
                "openid_enc": cipher.encrypt(openid),
                "openid_hash": cipher.lookup_hash(openid),
            }
        if patch.time_zone is not None:
            changes["time_zone"] = valid_time_zone(patch.time_zone)
        for name in ("dose_time", "quiet_start", "quiet_end", "lesson_time"):
            value = getattr(patch, name)
            if value is not None:
                changes[name] = _hhmm(value)
        if patch.study_arm is not None:
            # The arm of a study is its allocation: randomised, or changed by an admin with
            # a reason in the allocation log (services/scheduler/studies), never typed in.
            raise Conflict(
                "study_arm is no longer set here: enrol the patient into a study and "
                "randomise them (POST /api/v1/patients/{id}/studies, then .../randomise); "
                "an admin changes an arm with a reason (.../arm)"
            )
        for name in ("display_name", "channel_order", "language", "explicit_wording"):
            value = getattr(patch, name)
            if value is not None:
                changes[name] = value
        if patch.lesson_weekdays is not None:
            changes["lesson_weekdays"] = _weekdays(patch.lesson_weekdays)
        for name, value in changes.items():
            setattr(patient, name, value)
        _check_channels(list(patient.channel_order), patient.phone_enc, patient.openid_enc)
        patient.updated_at = datetime.now(UTC)
        add_to_outbox(session, Outbox, updated_event(patient))
        if changes.keys() & _SCHEDULE_FIELDS:
            await forget_plans(session, patient.id)
    await ctx.plan(patient.id)
    return to_out(patient, cipher)


async def _transition(
    ctx: Scheduler, principal: Principal, patient_id: int, change: Any
) -> PatientOut:
    async with ctx.db.transaction() as session:
        patient = await load_patient(session, principal, patient_id, lock=True)
        before = patient.state
        change(patient)
        patient.updated_at = datetime.now(UTC)
        if patient.state != before:
            note_state(session, patient, patient.updated_at)
        add_to_outbox(session, Outbox, updated_event(patient))
        if patient.state != "active":
            await forget_plans(session, patient.id)
    await ctx.plan(patient.id)
    return to_out(patient, ctx.cipher)


async def pause(ctx: Scheduler, principal: Principal, patient_id: int, data: PauseIn) -> PatientOut:
    def change(patient: Patient) -> None:
        today = local_today(ctx.clock(), patient.time_zone)  # the patient's date, not ours
        if data.resume_on is not None and data.resume_on <= today:
            raise InvalidInput("resume_on must be a future date")
        if patient.state == "discharged":
            raise Conflict("a discharged patient cannot be paused")
        patient.state, patient.pause_reason, patient.resume_on = (
            "paused",
            data.reason,
            data.resume_on,
        )

    return await _transition(ctx, principal, patient_id, change)


async def resume(ctx: Scheduler, principal: Principal, patient_id: int) -> PatientOut:
    def change(patient: Patient) -> None:
        if patient.state == "discharged":
            raise Conflict("a discharged patient cannot be resumed: enrol again")
        patient.state, patient.pause_reason, patient.resume_on = "active", None, None

    return await _transition(ctx, principal, patient_id, change)


async def discharge(ctx: Scheduler, principal: Principal, patient_id: int) -> PatientOut:
    def change(patient: Patient) -> None:
        patient.state, patient.resume_on = "discharged", None

    return await _transition(ctx, principal, patient_id, change)


async def transfer(
    ctx: Scheduler, principal: Principal, patient_id: int, data: TransferIn
) -> PatientOut:
    target = await _clinic(ctx, principal, data.clinic_id)  # the caller must reach both

    try:
        async with ctx.db.transaction() as session:
            patient = await load_patient(session, principal, patient_id, lock=True)
            # The time zone follows the clinic, unless it was set apart from the old one's.
            old = await _clinic(ctx, principal, patient.clinic_id)
            rezoned = patient.time_zone == old.time_zone != target.time_zone
            if rezoned:
                patient.time_zone = target.time_zone
                await forget_plans(session, patient.id)  # planned again in the new zone
            patient.clinic_id, patient.clinic_number = target.id, data.clinic_number
            patient.updated_at = ctx.clock()
            # Open alerts and unfinished messages follow the patient: the new clinic
            # follows up, and the old one no longer reaches them.
            await session.execute(
                sql_update(Alert)
                .where(Alert.patient_id == patient.id, Alert.state == "open")
                .values(clinic_id=target.id)
            )
            await session.execute(
                sql_update(Message)
                .where(
                    Message.patient_id == patient.id,
                    Message.state.in_(("queued", "sending", "sent")),
                )
                .values(clinic_id=target.id)
            )
            # So do open follow-up tasks: the old clinic's provider no longer reaches the
            # patient, so the new clinic's rule assigns them, and an overdue one is
            # escalated again, to the new clinic's lead.
            await session.execute(
                sql_update(Task)
                .where(Task.patient_id == patient.id, Task.status.in_(OPEN_TASKS))
                .values(
                    clinic_id=target.id,
                    assignee_staff_id=None,
                    assignee_name=None,
                    assign_pending=True,
                    escalated_at=None,
                    escalation_claimed_until=None,
                    escalation_retry_at=None,
                    escalation_attempts=0,
                    escalation_error=None,
                    updated_at=ctx.clock(),
                )
            )
            add_to_outbox(session, Outbox, updated_event(patient))
        if rezoned:
            await ctx.plan(patient.id)
        return to_out(patient, ctx.cipher)
    except IntegrityError as exc:
        raise Conflict(
            f"clinic {target.code} already has a patient numbered {data.clinic_number!r}"
        ) from exc
