"""Studies defined, read and closed. A definition never changes once stored (the arms'
allocations and the analysis depend on it); only its status goes from open to closed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.studies.definition import StudyDefinition, decode_study, validate_study
from services.scheduler.studies.models import AllocationLogEntry, Study, StudyArm, StudyArmTrack
from services.scheduler.studies.schemas import AllocationOut, ArmOut, FactorOut, StudyOut
from shared.db import Database
from shared.errors import Conflict, NotFound
from shared.yaml_problems import DocumentInvalid


def study_out(study: Study, outcome: str | None = None) -> StudyOut:
    definition = decode_study(study.definition)
    return StudyOut(
        id=study.id,
        key=study.key,
        titles=definition.titles,
        unit=study.unit,
        consent_version=study.consent_version,
        status=study.status,
        # The block sizes stay out: knowing them helps guess where a block ends.
        strata=[
            FactorOut(key=f.key, values=f.values, age_bands=f.age_bands) for f in definition.strata
        ],
        arms=[
            ArmOut(
                code=a.code,
                titles=a.titles,
                ratio=a.ratio,
                dose_reminders=a.dose_reminders,
                lessons=a.lessons,
                surveys=a.surveys,
                tracks=a.tracks,
                assessment_reminders=a.assessment_reminders,
            )
            for a in definition.arms
        ],
        follow_up=definition.follow_up,
        defined_at=study.defined_at,
        closed_at=study.closed_at,
        outcome=outcome,
    )


async def store_study(db: Database, definition: StudyDefinition, by: str) -> StudyOut:
    """Store a validated definition: `defined`, or `unchanged` if the same one is there;
    another definition under the same key is refused (409)."""
    stored = msgspec.to_builtins(definition)
    async with db.transaction() as session:
        existing = (
            await session.execute(select(Study).where(Study.key == definition.key))
        ).scalar_one_or_none()
        if existing is not None:
            # Compared as definitions, not as stored JSON: a field added to the format
            # since (an arm's mi_sessions) is its default in a definition stored before.
            if decode_study(existing.definition) == definition:
                return study_out(existing, "unchanged")
            raise Conflict(
                f"study {definition.key!r} is defined already with other content; "
                "a study never changes once defined: give the new one another key"
            )
        study = Study(
            key=definition.key,
            unit=definition.unit,
            consent_version=definition.consent_version,
            status="open",
            definition=stored,
            defined_by=by,
            defined_at=datetime.now(UTC),
        )
        session.add(study)
        try:
            await session.flush()
        except IntegrityError as exc:  # the same key defined at the same moment
            raise Conflict(f"study {definition.key!r} is defined already") from exc
        for arm in definition.arms:
            row = StudyArm(
                study_id=study.id,
                code=arm.code,
                ratio=arm.ratio,
                dose_reminders=arm.dose_reminders,
                lessons=arm.lessons,
                surveys=arm.surveys,
                tracks_limited=arm.tracks is not None,
                assessment_reminders=arm.assessment_reminders,
            )
            session.add(row)
            await session.flush()
            session.add_all(StudyArmTrack(arm_id=row.id, track=t) for t in arm.tracks or [])
    return study_out(study, "defined")


async def define_study(db: Database, data: dict[str, Any], by: str) -> StudyOut:
    definition, problems = validate_study(data)
    if definition is None:
        raise DocumentInvalid(problems, "study refused")
    return await store_study(db, definition, by)


async def load_study(session: AsyncSession, study_id: int, *, lock: bool = False) -> Study:
    study = await session.get(Study, study_id, with_for_update=lock)
    if study is None:
        raise NotFound(f"no study {study_id}")
    return study


async def get_study(db: Database, study_id: int) -> StudyOut:
    async with db.sessions() as session:
        return study_out(await load_study(session, study_id))


async def list_studies(db: Database) -> list[StudyOut]:
    async with db.sessions() as session:
        studies = (await session.execute(select(Study).order_by(Study.id))).scalars()
        return [study_out(study) for study in studies]


async def close_study(db: Database, study_id: int) -> StudyOut:
    """No enrolment or randomisation after this; follow-up and the arms' policies go on."""
    async with db.transaction() as session:
        study = await load_study(session, study_id, lock=True)
        if study.status == "closed":
            raise Conflict(f"study {study.key!r} is closed already")
        study.status, study.closed_at = "closed", datetime.now(UTC)
        return study_out(study)


async def arms_of(session: AsyncSession, study_id: int) -> dict[str, StudyArm]:
    rows = await session.execute(select(StudyArm).where(StudyArm.study_id == study_id))
    return {arm.code: arm for arm in rows.scalars()}


async def allocation_log(db: Database, study_id: int) -> list[AllocationOut]:
    """Every allocation and change of arm of a study, oldest first (admins only)."""
    async with db.sessions() as session:
        study = await load_study(session, study_id)
        rows = await session.execute(
            select(AllocationLogEntry)
            .where(AllocationLogEntry.study_id == study.id)
            .order_by(AllocationLogEntry.id)
        )
        return [
            AllocationOut(
                id=e.id,
                patient_id=e.patient_id,
                clinic_id=e.clinic_id,
                kind=e.kind,
                arm=e.arm,
                previous_arm=e.previous_arm,
                reason=e.reason,
                by=e.by,
                at=e.at,
            )
            for e in rows.scalars()
        ]


async def study_id_of(db: Database, key: str) -> int:
    """A study's id from its key (or its id written out), for the command line."""
    async with db.sessions() as session:
        found = await session.scalar(select(Study.id).where(Study.key == key))
    if found is None and key.isdigit():
        found = int(key)
    if found is None:
        raise NotFound(f"no study {key!r}")
    return int(found)
