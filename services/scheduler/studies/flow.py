"""A study's CONSORT-style flow counts (issue 21 part 3), of the caller's clinics: enrolled,
consent and baseline recorded, randomised; then by arm: allocated, lost to follow-up with
their reasons, still followed. Aggregates only, so researchers and coordinators see them."""

from __future__ import annotations

from collections import defaultdict

import msgspec
from sqlalchemy import select

from services.scheduler.patients import Scheduler
from services.scheduler.studies.export import scoped
from services.scheduler.studies.models import StudyArm, StudyParticipant
from services.scheduler.studies.service import load_study
from shared.access.tokens import Principal


class ArmFlow(msgspec.Struct, kw_only=True):
    arm: str
    allocated: int
    lost: dict[str, int]  # reason -> how many
    followed: int  # allocated and not lost


class FlowOut(msgspec.Struct, kw_only=True):
    """A CONSORT-style flow: enrolled (assessed), consent and baseline recorded, randomised,
    then by arm. Intention to treat: everyone allocated is analysed in their arm."""

    study: str
    enrolled: int
    consented: int
    baseline: int
    randomised: int
    not_randomised: int
    arms: list[ArmFlow]


async def flow_counts(ctx: Scheduler, principal: Principal, study_id: int) -> FlowOut:
    async with ctx.db.sessions() as session:
        study = await load_study(session, study_id)
        arms = (
            await session.execute(
                select(StudyArm.id, StudyArm.code)
                .where(StudyArm.study_id == study_id)
                .order_by(StudyArm.id)
            )
        ).all()
        query = scoped(
            select(
                StudyParticipant.consent_at,
                StudyParticipant.baseline_on,
                StudyParticipant.arm_id,
                StudyParticipant.lost_reason,
            ).where(StudyParticipant.study_id == study_id),
            principal,
        )
        people = (await session.execute(query)).all()
    randomised = [p for p in people if p.arm_id is not None]
    by_arm = []
    for arm_id, code in arms:
        mine = [p for p in randomised if p.arm_id == arm_id]
        lost: dict[str, int] = defaultdict(int)
        for p in mine:
            if p.lost_reason:
                lost[p.lost_reason] += 1
        by_arm.append(
            ArmFlow(
                arm=code,
                allocated=len(mine),
                lost=dict(lost),
                followed=len(mine) - sum(lost.values()),
            )
        )
    return FlowOut(
        study=study.key,
        enrolled=len(people),
        consented=sum(1 for p in people if p.consent_at is not None),
        baseline=sum(1 for p in people if p.baseline_on is not None),
        randomised=len(randomised),
        not_randomised=len(people) - len(randomised),
        arms=by_arm,
    )
