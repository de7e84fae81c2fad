"""Which MI target applies to a patient, and the sessions that count towards it.

A study's participant has their arm's target (studies/<key>.yaml, `mi_sessions`) from the
day they were randomised; an arm without one gives no target, whatever the clinic's
default, so that a control arm gets no MI by the back door. A patient in no study has their
clinic's default, if it set one, from the day they were enrolled. Dates are the patient's
local dates. Set-based: a clinic's or the whole installation's patients in a few queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, Text, cast, exists, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.mi.definition_cache import definition_of
from services.scheduler.mi.models import MiClinicTarget, MiSession
from services.scheduler.mi.rules import Window
from services.scheduler.mi.schemas import ClinicTargetIn, ClinicTargetOut
from services.scheduler.models import Patient
from services.scheduler.patients import Scheduler
from services.scheduler.studies.definition import MiSessions
from services.scheduler.studies.models import Study, StudyArm, StudyParticipant
from services.scheduler.timeplan import local_today
from shared.access.clinics import get_clinic
from shared.access.tokens import Principal

T = TypeVar("T")


async def arm_targets(session: AsyncSession) -> dict[int, tuple[int, str, MiSessions]]:
    """Per arm id with a target: (study id, arm code, target). Studies are few; the arms and
    their study's stored text come in one query, and a definition is decoded once per
    process and stored text (definition_cache.py)."""
    found: dict[int, tuple[int, str, MiSessions]] = {}
    rows = await session.execute(
        select(StudyArm.id, StudyArm.study_id, StudyArm.code, cast(Study.definition, Text))
        .join(Study, Study.id == StudyArm.study_id)
        .order_by(StudyArm.id)
    )
    for arm_id, study_id, code, stored_text in rows:
        definition = definition_of(study_id, stored_text)
        for entry in definition.arms:
            if entry.code == code and entry.mi_sessions is not None:
                found[arm_id] = (study_id, code, entry.mi_sessions)
    return found


def _local(at: datetime, zone: str) -> date:
    return local_today(at.astimezone(UTC), zone)


async def windows(
    session: AsyncSession, which: ColumnElement[bool] | None = None, *, followed_only: bool = False
) -> dict[int, Window]:
    """Each patient's window, for the patients `which` selects (a condition on Patient);
    `followed_only` leaves out the discharged and those lost to a study's follow-up (the
    worker's tick asks no one to see them)."""
    which = which if which is not None else true()
    if followed_only:
        which = which & (Patient.state != "discharged")
    found: dict[int, Window] = {}
    arms = await arm_targets(session)
    if arms:
        query = (
            select(
                StudyParticipant.patient_id,
                StudyParticipant.arm_id,
                StudyParticipant.randomised_at,
                Patient.time_zone,
            )
            .join(Patient, Patient.id == StudyParticipant.patient_id)
            .where(
                which,
                StudyParticipant.arm_id.in_(list(arms)),
                StudyParticipant.randomised_at.is_not(None),
            )
            .order_by(StudyParticipant.randomised_at)  # the first randomisation wins
        )
        if followed_only:
            query = query.where(StudyParticipant.lost_on.is_(None))
        for patient_id, arm_id, randomised_at, zone in await session.execute(query):
            if arm_id is None or randomised_at is None:
                continue  # the query's conditions: never so
            study_id, code, target = arms[arm_id]
            found.setdefault(
                patient_id,
                Window.opening(
                    _local(randomised_at, zone),
                    target.target,
                    target.within_days,
                    "study",
                    study_id,
                    code,
                ),
            )
    in_a_study = exists(
        select(StudyParticipant.id).where(StudyParticipant.patient_id == Patient.id)
    )
    rows = await session.execute(
        select(Patient.id, Patient.enrolled_at, Patient.time_zone, MiClinicTarget)
        .join(MiClinicTarget, MiClinicTarget.clinic_id == Patient.clinic_id)
        .where(which, ~in_a_study)
    )
    for patient_id, enrolled_at, zone, default in rows:
        found[patient_id] = Window.opening(
            _local(enrolled_at, zone), default.sessions, default.within_days, "clinic"
        )
    return found


def chunks(values: Iterable[T], size: int = 5000) -> Iterator[list[T]]:
    """IN lists of a bounded length (asyncpg takes at most 32,767 parameters)."""
    listed = list(values)
    for start in range(0, len(listed), size):
        yield listed[start : start + size]


async def held_dates(session: AsyncSession, patient_ids: Iterable[int]) -> dict[int, list[date]]:
    """The dates of each patient's sessions, voided ones left out."""
    found: dict[int, list[date]] = defaultdict(list)
    for some in chunks(patient_ids):
        rows = await session.execute(
            select(MiSession.patient_id, MiSession.held_on).where(
                MiSession.patient_id.in_(some), MiSession.voided_at.is_(None)
            )
        )
        for patient_id, held_on in rows:
            found[patient_id].append(held_on)
    return found


async def clinic_target(ctx: Scheduler, principal: Principal, clinic_id: int) -> ClinicTargetOut:
    await get_clinic(ctx.access_db, principal, clinic_id)  # 404 outside scope
    async with ctx.db.sessions() as session:
        row = await session.get(MiClinicTarget, clinic_id)
    if row is None:
        return ClinicTargetOut(clinic_id=clinic_id, sessions=0, within_days=None, updated_at=None)
    return ClinicTargetOut(
        clinic_id=clinic_id,
        sessions=row.sessions,
        within_days=row.within_days,
        updated_at=row.updated_at,
    )


async def set_clinic_target(
    ctx: Scheduler, principal: Principal, clinic_id: int, data: ClinicTargetIn
) -> ClinicTargetOut:
    """Set the clinic's default target for its patients in no study (0 sessions: none)."""
    await get_clinic(ctx.access_db, principal, clinic_id)
    async with ctx.db.transaction() as session:
        row = await session.get(MiClinicTarget, clinic_id, with_for_update=True)
        if data.sessions == 0:
            if row is not None:
                await session.delete(row)
        elif row is None:
            session.add(
                MiClinicTarget(
                    clinic_id=clinic_id,
                    sessions=data.sessions,
                    within_days=data.within_days,
                    updated_by=principal.token_id,
                    updated_at=ctx.clock(),
                )
            )
        else:
            row.sessions, row.within_days = data.sessions, data.within_days
            row.updated_by, row.updated_at = principal.token_id, ctx.clock()
    return await clinic_target(ctx, principal, clinic_id)
