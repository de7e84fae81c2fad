"""Randomising a patient, and an admin's change of arm.

Refusals write nothing (each call is one transaction): randomising without consent or
baseline, twice, or into a closed study is a 409 with the reason.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.patients import Scheduler
from services.scheduler.studies.allocation import draw
from services.scheduler.studies.definition import decode_study
from services.scheduler.studies.models import StudyBlock
from services.scheduler.studies.participants import (
    apply_arm,
    arm_code,
    load_participant,
    log_entry,
    participant_out,
    stratum_of,
)
from services.scheduler.studies.schemas import ArmChangeIn, ParticipantOut
from services.scheduler.studies.service import arms_of
from shared.access.tokens import Principal
from shared.errors import Conflict, DomainError

# Allocation is drawn from the operating system's cryptographic generator: not seeded,
# not reproducible, not predictable from anything the API shows (allocation.py).
GENERATOR = secrets.SystemRandom()


class UnknownArm(DomainError):
    status_code = 422


async def randomise(
    ctx: Scheduler, principal: Principal, patient_id: int, study_id: int
) -> ParticipantOut:
    """Draw the patient's arm, once. Refusals write nothing (one transaction)."""
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        patient, study, part = await load_participant(session, principal, patient_id, study_id)
        if part.arm_id is not None:
            raise Conflict(
                f"patient {patient_id} is randomised already (arm "
                f"{await arm_code(session, part)!r}): only an admin changes it, with a reason"
            )
        if study.status != "open":
            raise Conflict(f"study {study.key!r} is closed: no one is randomised any more")
        if study.unit == "clinic":
            raise Conflict(
                f"study {study.key!r} is randomised by clinic: the patient takes their "
                "clinic's arm (POST /api/v1/studies/{id}/clinics)"
            )
        if part.consent_at is None:
            raise Conflict("no consent recorded: record the signed consent first")
        if part.baseline_on is None:
            raise Conflict("no baseline recorded: record the baseline first")
        definition = decode_study(study.definition)
        stratum = stratum_of(part, definition)
        block = await _locked_block(ctx, session, study.id, stratum)
        code, block.remaining = draw(definition.scheme(), block.remaining, GENERATOR)
        arm = (await arms_of(session, study.id))[code]
        await apply_arm(session, patient, part, arm, now)
        part.randomised_at = now
        session.add(
            log_entry(
                (patient.id, None),
                study,
                "randomised",
                code,
                principal.token_id,
                now,
                stratum=stratum,
            )
        )
    await ctx.plan(patient.id)
    return participant_out(part, study, code)


async def _locked_block(
    ctx: Scheduler, session: AsyncSession, study_id: int, stratum: str
) -> StudyBlock:
    """The stratum's block state, locked (FOR UPDATE) until the transaction ends: two
    randomisations in one stratum at once take turns, never the same place of a block.
    The first patient of a stratum makes its row (ON CONFLICT DO NOTHING: two first
    patients at once make one)."""
    insert = (sqlite.insert if ctx.db.is_sqlite else postgresql.insert)(StudyBlock)
    await session.execute(
        insert.values(study_id=study_id, stratum=stratum, remaining={}).on_conflict_do_nothing(
            index_elements=["study_id", "stratum"]
        )
    )
    return (
        await session.execute(
            select(StudyBlock)
            .where(StudyBlock.study_id == study_id, StudyBlock.stratum == stratum)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


async def change_arm(
    ctx: Scheduler, principal: Principal, patient_id: int, study_id: int, data: ArmChangeIn
) -> ParticipantOut:
    """An admin's correction, logged with its reason beside the original allocation."""
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        patient, study, part = await load_participant(session, principal, patient_id, study_id)
        arms = await arms_of(session, study.id)
        if data.arm not in arms:
            raise UnknownArm(
                f"arm: study {study.key!r} has no arm {data.arm!r} ({', '.join(arms)})"
            )
        before = await arm_code(session, part)
        if before is None:
            raise Conflict(f"patient {patient_id} has no arm yet: randomise them first")
        if before == data.arm:
            raise Conflict(f"patient {patient_id} is in arm {data.arm!r} already")
        await apply_arm(session, patient, part, arms[data.arm], now)
        session.add(
            log_entry(
                (patient.id, None),
                study,
                "changed",
                data.arm,
                principal.token_id,
                now,
                previous_arm=before,
                reason=data.reason,
            )
        )
    await ctx.plan(patient.id)
    return participant_out(part, study, data.arm)
