"""Logging an MI session, correcting it and voiding it; a patient's sessions and target.

Every call reaches the patient through the clinic scope first (another clinic's patient or
session is "not found"). A session is never deleted: within EDIT_WINDOW its author (the
same person, whichever sign-in) or an admin may correct it; after that, or by anyone else
of the clinic, it is voided with a reason, which keeps the row and who voided it. The plan
is health data: it is stored and returned, never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.mi.models import MiSession
from services.scheduler.mi.rules import Window, progress
from services.scheduler.mi.schemas import (
    MiSessionIn,
    MiSessionOut,
    MiSessionPatch,
    MiTargetOut,
    PatientMiOut,
    VoidIn,
)
from services.scheduler.mi.targets import held_dates, windows
from services.scheduler.models import Patient
from services.scheduler.patients import Scheduler, load_patient
from services.scheduler.timeplan import local_today
from shared.access.authors import author_name
from shared.access.models import ApiToken, Clinic, Staff
from shared.access.tokens import Principal, Role
from shared.errors import Conflict, DomainError, InvalidInput, NotFound

EDIT_WINDOW = timedelta(hours=24)


class InvalidSession(InvalidInput):
    """Well-formed input the record refuses (a date in the future, a provider of another
    clinic): 422, naming the field."""

    status_code = 422


class NotTheAuthor(DomainError):
    status_code = 403


@dataclass(frozen=True)
class _Writer:
    staff_id: int | None  # None for a token made with `mmt token create`
    name: str | None


async def _writer(ctx: Scheduler, principal: Principal) -> _Writer:
    async with ctx.access_db.sessions() as session:
        staff_id = await session.scalar(
            select(ApiToken.staff_id).where(ApiToken.id == principal.token_id)
        )
    return _Writer(staff_id, await author_name(ctx.access_db, principal.token_id))


async def _provider(ctx: Scheduler, clinic_id: int, staff_id: int) -> str:
    """The provider's "Name (login)": an active staff member of the patient's clinic."""
    async with ctx.access_db.sessions() as session:
        row = await session.get(Staff, staff_id)
    if (
        row is None
        or row.disabled_at is not None
        or not (row.role == Role.ADMIN.value or clinic_id in row.clinic_ids)
    ):
        raise InvalidSession(
            f"provider_staff_id: no active staff member {staff_id} at clinic {clinic_id}"
        )
    return f"{row.name} ({row.login})"[:100]


async def _check_held_on(ctx: Scheduler, patient: Patient, held_on: date) -> None:
    """The clinic's date: not after its today, not before the patient's enrolment."""
    async with ctx.access_db.sessions() as session:
        clinic = await session.get(Clinic, patient.clinic_id)
    zone = clinic.time_zone if clinic is not None else patient.time_zone
    today = local_today(ctx.clock(), zone)
    if held_on > today:
        raise InvalidSession(f"held_on: {held_on} is in the future (the clinic's date is {today})")
    enrolled = local_today(patient.enrolled_at, zone)
    if held_on < enrolled:
        raise InvalidSession(f"held_on: {held_on} is before the patient's enrolment ({enrolled})")


def _text(value: str | None) -> str | None:
    cleaned = (value or "").strip()
    return cleaned or None


def session_out(row: MiSession) -> MiSessionOut:
    return MiSessionOut(
        id=row.id,
        patient_id=row.patient_id,
        clinic_id=row.clinic_id,
        held_on=row.held_on,
        provider_staff_id=row.provider_staff_id,
        provider_name=row.provider_name,
        minutes=row.minutes,
        topic=row.topic,
        topic_note=row.topic_note,
        importance=row.importance,
        confidence=row.confidence,
        plan=row.plan,
        author=row.author,
        author_staff_id=row.author_staff_id,
        author_name=row.author_name,
        created_at=row.created_at,
        updated_at=row.updated_at,
        voided=row.voided_at is not None,
        voided_at=row.voided_at,
        void_reason=row.void_reason,
    )


async def log_session(
    ctx: Scheduler, principal: Principal, patient_id: int, data: MiSessionIn
) -> MiSessionOut:
    writer = await _writer(ctx, principal)
    async with ctx.db.transaction() as session:
        patient = await load_patient(session, principal, patient_id)
        provider_id = data.provider_staff_id or writer.staff_id
        if provider_id is None:
            raise InvalidSession(
                "provider_staff_id: required, since this token names no staff member"
            )
        provider_name = await _provider(ctx, patient.clinic_id, provider_id)
        await _check_held_on(ctx, patient, data.held_on)
        row = MiSession(
            patient_id=patient.id,
            clinic_id=patient.clinic_id,
            held_on=data.held_on,
            provider_staff_id=provider_id,
            provider_name=provider_name,
            minutes=data.minutes,
            topic=data.topic,
            topic_note=_text(data.topic_note),
            importance=data.importance,
            confidence=data.confidence,
            plan=_text(data.plan),
            author=principal.token_id,
            author_staff_id=writer.staff_id,
            author_name=writer.name,
            created_at=ctx.clock(),
        )
        session.add(row)
        await session.flush()
        return session_out(row)


async def _load(
    session: AsyncSession, principal: Principal, session_id: int
) -> tuple[MiSession, Patient]:
    """The session, locked, and its patient; another clinic's is "not found"."""
    row = await session.get(MiSession, session_id, with_for_update=True)
    patient = await session.get(Patient, row.patient_id) if row is not None else None
    if row is None or patient is None or not principal.can_access_clinic(patient.clinic_id):
        raise NotFound(f"no MI session {session_id}")
    return row, patient


async def correct_session(
    ctx: Scheduler, principal: Principal, session_id: int, patch: MiSessionPatch
) -> MiSessionOut:
    writer = await _writer(ctx, principal)
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        row, patient = await _load(session, principal, session_id)
        if row.voided_at is not None:
            raise Conflict(f"MI session {session_id} is voided: log the session again")
        if now - row.created_at > EDIT_WINDOW:
            raise Conflict(
                f"MI session {session_id} was logged more than 24 hours ago: "
                "void it with a reason and log it again"
            )
        same_person = writer.staff_id is not None and writer.staff_id == row.author_staff_id
        if not (principal.all_clinics or row.author == principal.token_id or same_person):
            raise NotTheAuthor("only the session's author or an admin may correct it")
        if patch.provider_staff_id is not None:
            row.provider_name = await _provider(ctx, patient.clinic_id, patch.provider_staff_id)
            row.provider_staff_id = patch.provider_staff_id
        if patch.held_on is not None:
            await _check_held_on(ctx, patient, patch.held_on)
            row.held_on = patch.held_on
        for name in ("minutes", "topic", "importance", "confidence"):
            value = getattr(patch, name)
            if value is not None:
                setattr(row, name, value)
        for name in ("topic_note", "plan"):  # an empty text clears it
            value = getattr(patch, name)
            if value is not None:
                setattr(row, name, _text(value))
        row.updated_by, row.updated_at = principal.token_id, now
        return session_out(row)


async def void_session(
    ctx: Scheduler, principal: Principal, session_id: int, data: VoidIn
) -> MiSessionOut:
    async with ctx.db.transaction() as session:
        row, _patient = await _load(session, principal, session_id)
        if row.voided_at is not None:
            raise Conflict(f"MI session {session_id} is voided already ({row.void_reason})")
        reason = _text(data.reason)
        if reason is None:
            raise InvalidSession("reason: must not be blank")
        row.voided_by, row.voided_at, row.void_reason = principal.token_id, ctx.clock(), reason
        return session_out(row)


def target_out(window: Window, held_on: list[date], today: date) -> MiTargetOut:
    state = progress(window, held_on, today)
    return MiTargetOut(
        source=window.source,
        study_id=window.study_id,
        arm=window.arm,
        target=window.target,
        held=state.held,
        window_starts_on=window.starts_on,
        window_ends_on=window.ends_on,
        status=state.status,
        next_session=state.next_session,
        next_due_by=state.next_due_by,
    )


async def patient_sessions(
    ctx: Scheduler, principal: Principal, patient_id: int, on: date | None = None
) -> PatientMiOut:
    """The patient's sessions, newest first, and where they stand on `on` (their today)."""
    async with ctx.db.sessions() as session:
        patient = await load_patient(session, principal, patient_id)
        today = on or local_today(ctx.clock(), patient.time_zone)
        return await sessions_of(session, patient, today)


async def sessions_of(session: AsyncSession, patient: Patient, today: date) -> PatientMiOut:
    """`patient_sessions` in a session the caller opened (the patient page reads it with
    others)."""
    rows = (
        await session.execute(
            select(MiSession)
            .where(MiSession.patient_id == patient.id)
            .order_by(MiSession.held_on.desc(), MiSession.id.desc())
        )
    ).scalars()
    sessions = [session_out(row) for row in rows]
    window = (await windows(session, Patient.id == patient.id)).get(patient.id)
    held = await held_dates(session, [patient.id])
    target = target_out(window, held[patient.id], today) if window else None
    return PatientMiOut(patient_id=patient.id, target=target, sessions=sessions)
