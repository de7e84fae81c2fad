"""Cluster randomisation: the clinics of a study randomised by clinic get their arms once,
as a set, balanced (within each stratum given). Patients enrolled later take their clinic's
arm at enrolment; those enrolled before take it now."""

from __future__ import annotations

from sqlalchemy import select

from services.scheduler import planner
from services.scheduler.models import Patient
from services.scheduler.patients import Scheduler
from services.scheduler.studies.allocation import allocate_clusters
from services.scheduler.studies.definition import decode_study
from services.scheduler.studies.models import StudyArm, StudyClinic, StudyParticipant
from services.scheduler.studies.participants import apply_arm, log_entry
from services.scheduler.studies.randomise import GENERATOR
from services.scheduler.studies.schemas import ClinicArmOut, ClusterIn
from services.scheduler.studies.service import arms_of, load_study
from shared.access.models import Clinic
from shared.access.tokens import Principal
from shared.errors import Conflict, InvalidInput, NotFound


async def allocate_clinics(
    ctx: Scheduler, principal: Principal, study_id: int, data: ClusterIn
) -> list[ClinicArmOut]:
    ids = [entry.clinic_id for entry in data.clinics]
    if len(set(ids)) != len(ids):
        raise InvalidInput("clinics: a clinic is listed twice")
    async with ctx.access_db.sessions() as session:
        known = set((await session.execute(select(Clinic.id).where(Clinic.id.in_(ids)))).scalars())
    if missing := [i for i in ids if i not in known]:
        raise NotFound(f"no clinic {', '.join(map(str, missing))}")
    now = ctx.clock()
    replanned: list[int] = []
    async with ctx.db.transaction() as session:
        study = await load_study(session, study_id, lock=True)  # one allocation at a time
        if study.unit != "clinic":
            raise Conflict(f"study {study.key!r} randomises patients, not clinics")
        if study.status != "open":
            raise Conflict(f"study {study.key!r} is closed: no one is randomised any more")
        done = (
            await session.execute(select(StudyClinic.id).where(StudyClinic.study_id == study.id))
        ).first()
        if done is not None:
            raise Conflict(f"the clinics of study {study.key!r} are randomised already")
        scheme = decode_study(study.definition).scheme()
        clusters = [(entry.clinic_id, entry.stratum) for entry in data.clinics]
        drawn = allocate_clusters(scheme, clusters, GENERATOR)
        arms = await arms_of(session, study.id)
        rows = [
            StudyClinic(
                study_id=study.id,
                clinic_id=clinic_id,
                arm_id=arms[drawn[clinic_id]].id,
                stratum=stratum,
                allocated_at=now,
            )
            for clinic_id, stratum in clusters
        ]
        session.add_all(rows)
        for clinic_id, stratum in clusters:
            entry = log_entry(
                (None, clinic_id), study, "cluster", drawn[clinic_id], principal.token_id, now
            )
            entry.stratum = stratum
            session.add(entry)
        # Those enrolled already (while their clinic had no arm) take it now.
        waiting = await session.execute(
            select(StudyParticipant, Patient)
            .join(Patient, Patient.id == StudyParticipant.patient_id)
            .where(StudyParticipant.study_id == study.id, StudyParticipant.arm_id.is_(None))
            .with_for_update()
        )
        for part, patient in waiting.all():
            code = drawn.get(part.clinic_id)
            if code is None:
                continue
            await apply_arm(session, patient, part, arms[code], now)
            part.randomised_at = now
            session.add(
                log_entry((patient.id, None), study, "clinic_arm", code, principal.token_id, now)
            )
            replanned.append(patient.id)
    if replanned:
        await planner.plan_ahead(ctx.db, ctx.config, ctx.clock(), patient_ids=replanned)
    return [
        ClinicArmOut(
            clinic_id=r.clinic_id, arm=drawn[r.clinic_id], stratum=r.stratum, allocated_at=now
        )
        for r in rows
    ]


async def clinic_arms(ctx: Scheduler, study_id: int) -> list[ClinicArmOut]:
    async with ctx.db.sessions() as session:
        study = await load_study(session, study_id)
        rows = await session.execute(
            select(StudyClinic, StudyArm.code)
            .join(StudyArm, StudyArm.id == StudyClinic.arm_id)
            .where(StudyClinic.study_id == study.id)
            .order_by(StudyClinic.clinic_id)
        )
        return [
            ClinicArmOut(
                clinic_id=c.clinic_id, arm=code, stratum=c.stratum, allocated_at=c.allocated_at
            )
            for c, code in rows.all()
        ]
