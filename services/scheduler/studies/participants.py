"""Patients in studies: enrolment (when assessed), consent, baseline, randomisation, an
admin's change of arm, loss to follow-up.

Every call reaches the patient through the clinic scope first (another clinic's patient is
"not found"), and refuses with the reason, writing nothing, what the trial forbids:
randomising without consent or baseline, twice, or into a closed study.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.assessment_plan import refresh_reminders
from services.scheduler.events import updated_event
from services.scheduler.models import Outbox, Patient
from services.scheduler.patients import Scheduler, forget_plans, load_patient
from services.scheduler.schemas import Consent
from services.scheduler.studies.definition import CLINIC, StudyDefinition, band_of, decode_study
from services.scheduler.studies.models import (
    AllocationLogEntry,
    Study,
    StudyArm,
    StudyClinic,
    StudyParticipant,
)
from services.scheduler.studies.schemas import (
    BaselineIn,
    LostIn,
    ParticipantIn,
    ParticipantOut,
)
from services.scheduler.studies.service import load_study
from services.scheduler.timeplan import local_today
from shared.access.tokens import Principal
from shared.bus import add_to_outbox
from shared.errors import Conflict, DomainError, InvalidInput, NotFound


class StratumInvalid(DomainError):
    """A stratum value the study does not declare, or one missing: nothing is written."""

    status_code = 422


def participant_out(part: StudyParticipant, study: Study, arm: str | None) -> ParticipantOut:
    return ParticipantOut(
        study_id=study.id,
        study=study.key,
        patient_id=part.patient_id,
        clinic_id=part.clinic_id,
        consent_version=part.consent_version,
        consent_given_at=part.consent_at,
        strata=dict(part.strata),
        baseline_on=part.baseline_on,
        arm=arm,
        randomised_at=part.randomised_at,
        lost_on=part.lost_on,
        lost_reason=part.lost_reason,
        lost_note=part.lost_note,
        enrolled_at=part.enrolled_at,
    )


def _age_band(definition: StudyDefinition, given: dict[str, str], age: int) -> list[str]:
    """The age band found from `age` put in `given`, or the problems with it."""
    factor = next((f for f in definition.strata if f.age_bands), None)
    if factor is None:
        return ["age: this study has no age band factor (give no age)"]
    bands = factor.values or []
    band = band_of(bands, age)
    if band is None:
        return [f"age: {age} is in none of {factor.key}'s bands ({', '.join(bands)})"]
    if given.setdefault(factor.key, band) != band:
        return [f"strata.{factor.key}: {given[factor.key]!r}, but age {age} is in {band!r}"]
    return []


def _strata(
    definition: StudyDefinition, clinic_id: int, given: dict[str, str], age: int | None = None
) -> dict[str, str]:
    """The participant's value of each factor: the clinic from the record, the others as
    given (a value the study does not list is refused naming the factor); an age band may
    be found from the age instead."""
    factors = {f.key: f for f in definition.strata}
    given = dict(given)
    problems = _age_band(definition, given, age) if age is not None else []
    problems += [f"strata.{key}: not a factor of this study" for key in given if key == CLINIC]
    problems += [f"strata.{key}: not a factor of this study" for key in given if key not in factors]
    values: dict[str, str] = {}
    for factor in definition.strata:
        if factor.key == CLINIC:
            values[CLINIC] = str(clinic_id)
        elif factor.key not in given:
            problems.append(f"strata.{factor.key}: missing ({', '.join(factor.values or [])})")
        elif given[factor.key] not in (factor.values or []):
            allowed = ", ".join(factor.values or [])
            problems.append(f"strata.{factor.key}: {given[factor.key]!r} is not one of {allowed}")
        else:
            values[factor.key] = given[factor.key]
    if problems:
        raise StratumInvalid("; ".join(problems))
    return values


def stratum_of(part: StudyParticipant, definition: StudyDefinition) -> str:
    return "|".join(f"{f.key}={part.strata[f.key]}" for f in definition.strata) or "all"


def _check_consent(study: Study, consent: Consent) -> None:
    if consent.version != study.consent_version:
        raise Conflict(
            f"consent version {consent.version!r} is not study {study.key!r}'s "
            f"({study.consent_version!r}): record the consent the patient signed for it"
        )


def _not_future(on: date, patient: Patient, now: datetime, what: str) -> None:
    if on > local_today(now, patient.time_zone):
        raise InvalidInput(f"{what} is in the future")


async def apply_arm(
    session: AsyncSession, patient: Patient, part: StudyParticipant, arm: StudyArm, now: datetime
) -> None:
    """The arm takes effect: the label other services see follows it (the patient event),
    and what was planned under the old policy is planned again (the caller plans)."""
    part.arm_id = arm.id
    patient.study_arm, patient.updated_at = arm.code, now
    add_to_outbox(session, Outbox, updated_event(patient))
    await forget_plans(session, patient.id)
    await refresh_reminders(session, patient, now)


def log_entry(
    part_or_clinic: tuple[int | None, int | None],
    study: Study,
    kind: str,
    arm: str,
    by: str,
    now: datetime,
    **extra: str | None,
) -> AllocationLogEntry:
    patient_id, clinic_id = part_or_clinic
    return AllocationLogEntry(
        study_id=study.id,
        patient_id=patient_id,
        clinic_id=clinic_id,
        kind=kind,
        arm=arm,
        by=by,
        at=now,
        **extra,
    )


async def enrol(
    ctx: Scheduler, principal: Principal, patient_id: int, data: ParticipantIn
) -> ParticipantOut:
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        patient = await load_patient(session, principal, patient_id, lock=True)
        study = await load_study(session, data.study_id)
        if study.status != "open":
            raise Conflict(f"study {study.key!r} is closed: no one is enrolled any more")
        definition = decode_study(study.definition)
        if data.consent is not None:
            _check_consent(study, data.consent)
        if data.baseline_on is not None:
            _not_future(data.baseline_on, patient, now, "baseline_on")
        arm = await _clinic_arm(session, study, patient.clinic_id)
        part = StudyParticipant(
            study_id=study.id,
            patient_id=patient.id,
            clinic_id=patient.clinic_id,
            consent_version=data.consent.version if data.consent else None,
            consent_at=data.consent.given_at if data.consent else None,
            strata=_strata(definition, patient.clinic_id, dict(data.strata), data.age),
            baseline_on=data.baseline_on,
            enrolled_by=principal.token_id,
            enrolled_at=now,
        )
        try:
            async with session.begin_nested():  # a savepoint: the refusal leaves no trace
                session.add(part)
        except IntegrityError as exc:
            raise Conflict(f"patient {patient.id} is in study {study.key!r} already") from exc
        # Until randomised the patient gets only what every arm gets: plan again.
        await forget_plans(session, patient.id)
        await refresh_reminders(session, patient, now)
        if arm is not None:  # a study by clinic: the patient takes their clinic's arm
            await apply_arm(session, patient, part, arm, now)
            part.randomised_at = now
            session.add(
                log_entry(
                    (patient.id, None), study, "clinic_arm", arm.code, principal.token_id, now
                )
            )
    await ctx.plan(patient.id)
    return participant_out(part, study, arm.code if arm else None)


async def _clinic_arm(session: AsyncSession, study: Study, clinic_id: int) -> StudyArm | None:
    """In a study by clinic, the arm of the patient's clinic (None before the clinics are
    randomised); a clinic left out of the randomisation has no patient in the study."""
    if study.unit != "clinic":
        return None
    rows = await session.execute(
        select(StudyClinic.clinic_id, StudyArm)
        .join(StudyArm, StudyClinic.arm_id == StudyArm.id)
        .where(StudyClinic.study_id == study.id)
    )
    arms = {allocated: arm for allocated, arm in rows.all()}
    if arms and clinic_id not in arms:
        raise Conflict(f"clinic {clinic_id} is not one of study {study.key!r}'s clinics")
    return arms.get(clinic_id)


async def load_participant(
    session: AsyncSession, principal: Principal, patient_id: int, study_id: int
) -> tuple[Patient, Study, StudyParticipant]:
    """The patient (clinic scope first), the study and the participant row, all locked."""
    patient = await load_patient(session, principal, patient_id, lock=True)
    study = await load_study(session, study_id)
    part = (
        await session.execute(
            select(StudyParticipant)
            .where(StudyParticipant.study_id == study.id, StudyParticipant.patient_id == patient.id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if part is None:
        raise NotFound(f"patient {patient_id} is not enrolled in study {study.key!r}")
    return patient, study, part


async def arm_code(session: AsyncSession, part: StudyParticipant) -> str | None:
    if part.arm_id is None:
        return None
    arm = await session.get(StudyArm, part.arm_id)
    return arm.code if arm else None


async def record_consent(
    ctx: Scheduler, principal: Principal, patient_id: int, study_id: int, data: Consent
) -> ParticipantOut:
    async with ctx.db.transaction() as session:
        _patient, study, part = await load_participant(session, principal, patient_id, study_id)
        _check_consent(study, data)
        if part.randomised_at is not None:
            raise Conflict("the participant is randomised: their consent is on record")
        part.consent_version, part.consent_at = data.version, data.given_at
        return participant_out(part, study, await arm_code(session, part))


async def record_baseline(
    ctx: Scheduler, principal: Principal, patient_id: int, study_id: int, data: BaselineIn
) -> ParticipantOut:
    """For now a date; the assessments (part 2) will link the baseline assessment."""
    async with ctx.db.transaction() as session:
        patient, study, part = await load_participant(session, principal, patient_id, study_id)
        if part.randomised_at is not None:
            raise Conflict("the participant is randomised: the baseline cannot change")
        _not_future(data.on, patient, ctx.clock(), "on")
        part.baseline_on = data.on
        return participant_out(part, study, None)


async def record_lost(
    ctx: Scheduler, principal: Principal, patient_id: int, study_id: int, data: LostIn
) -> ParticipantOut:
    """Lost to follow-up, with the reason the flow diagram counts. The patient's reminders
    are a separate matter (pause or discharge)."""
    async with ctx.db.transaction() as session:
        patient, study, part = await load_participant(session, principal, patient_id, study_id)
        if part.lost_on is not None:
            raise Conflict(f"patient {patient_id} is recorded lost already ({part.lost_reason})")
        _not_future(data.on, patient, ctx.clock(), "on")
        if data.on < part.enrolled_at.date():
            raise InvalidInput("on: before the patient was enrolled in the study")
        part.lost_on, part.lost_reason, part.lost_note = data.on, data.reason, data.note
        return participant_out(part, study, await arm_code(session, part))


async def of_patient(ctx: Scheduler, principal: Principal, patient_id: int) -> list[ParticipantOut]:
    async with ctx.db.sessions() as session:
        patient = await load_patient(session, principal, patient_id)
        rows = await session.execute(
            select(StudyParticipant, Study, StudyArm.code)
            .join(Study, Study.id == StudyParticipant.study_id)
            .outerjoin(StudyArm, StudyArm.id == StudyParticipant.arm_id)
            .where(StudyParticipant.patient_id == patient.id)
            .order_by(StudyParticipant.id)
        )
        return [participant_out(part, study, code) for part, study, code in rows.all()]


async def of_study(ctx: Scheduler, principal: Principal, study_id: int) -> list[ParticipantOut]:
    """A study's participants in the caller's clinics (all of them for an admin)."""
    async with ctx.db.sessions() as session:
        study = await load_study(session, study_id)
        query = (
            select(StudyParticipant, StudyArm.code)
            .outerjoin(StudyArm, StudyArm.id == StudyParticipant.arm_id)
            .where(StudyParticipant.study_id == study.id)
            .order_by(StudyParticipant.id)
        )
        if not principal.all_clinics:
            query = query.where(StudyParticipant.clinic_id.in_(principal.clinic_ids))
        rows = await session.execute(query)
        return [participant_out(part, study, code) for part, code in rows.all()]
