"""Choosing patients of an arm for qualitative interviews (issue 21 part 4), as the Yuxi
study did: 10-15 people, spread over how much they used the service, so the interviews hear
from those who used it a lot, a little and not at all.

Use is measured from what the scheduler knows without asking another service: the share of
lessons sent to the patient whose page they opened (lesson_progress). `often`: two thirds
or more; `sometimes`: some; `never`: none opened, or no lesson ever sent (the routine-care
arm, whose use cannot be seen here, is all `never`). Randomised participants of the arm who
are not lost to follow-up are eligible.

Reproducible: the choice is a pure function of the eligible patients (in id order), their
use and a seed (drawn from `secrets` unless given). The seed, the parameters and the chosen
list are stored, so the list can be shown again and checked by re-running the draw.
Admins only (the list names patients), and audited like every route."""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, case, func, select
from sqlalchemy.orm import Mapped, mapped_column

from services.scheduler.models import Base, LessonProgress, Patient
from services.scheduler.patients import Scheduler
from services.scheduler.studies.models import StudyArm, StudyParticipant
from services.scheduler.studies.service import load_study
from shared.access.tokens import Principal
from shared.db import UTCDateTime
from shared.errors import InvalidInput, NotFound

_ID = BigInteger().with_variant(Integer(), "sqlite")
Level = Literal["often", "sometimes", "never"]
LEVELS: tuple[Level, ...] = ("often", "sometimes", "never")
OFTEN = 2 / 3  # share of lessons opened


class InterviewSelection(Base):
    __tablename__ = "study_interview_selections"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("scheduler.studies.id"), index=True)
    arm: Mapped[str] = mapped_column(String(20))
    seed: Mapped[int] = mapped_column(BigInteger())
    wanted: Mapped[int] = mapped_column(Integer)
    chosen: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{patient_id, level}]
    eligible: Mapped[dict[str, int]] = mapped_column(JSON)  # level -> how many could be
    made_by: Mapped[str] = mapped_column(String(16))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InterviewIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    arm: str
    count: int = 12
    seed: int | None = None  # None: a new one from `secrets`; give one to redo a draw


class Interviewee(msgspec.Struct, kw_only=True):
    patient_id: int
    clinic_id: int
    clinic_number: str
    display_name: str
    level: Level
    lessons_sent: int
    lessons_opened: int


class InterviewOut(msgspec.Struct, kw_only=True):
    id: int
    study_id: int
    arm: str
    seed: int
    count: int
    eligible: dict[str, int]
    made_at: datetime
    patients: list[Interviewee]


def level_of(sent: int, opened: int) -> Level:
    if sent == 0 or opened == 0:
        return "never"
    return "often" if opened / sent >= OFTEN else "sometimes"


def choose(levels: Mapping[int, Level], count: int, seed: int) -> list[int]:
    """`count` patient ids spread as evenly as the levels allow: each level shuffled with
    the seed, then one from each level in turn (a level that runs out gives its turns to
    the others). Deterministic: the same ids, levels and seed give the same list."""
    rng = random.Random(seed)  # noqa: S311  # reproducible by design: the seed is stored
    pools: dict[Level, list[int]] = {}
    for level in LEVELS:
        ids = sorted(pid for pid, lv in levels.items() if lv == level)
        rng.shuffle(ids)
        pools[level] = ids
    chosen: list[int] = []
    while len(chosen) < count and any(pools.values()):
        for level in LEVELS:
            if pools[level] and len(chosen) < count:
                chosen.append(pools[level].pop())
    return chosen


async def _usage(ctx: Scheduler, study_id: int, arm_id: int) -> list[Any]:
    opened = func.sum(case((LessonProgress.state == "opened", 1), else_=0))
    sent = func.count(LessonProgress.id)
    query = (
        select(
            Patient.id,
            Patient.clinic_id,
            Patient.clinic_number,
            Patient.display_name,
            func.coalesce(sent, 0).label("sent"),
            func.coalesce(opened, 0).label("opened"),
        )
        .join(StudyParticipant, StudyParticipant.patient_id == Patient.id)
        .outerjoin(
            LessonProgress,
            (LessonProgress.patient_id == Patient.id) & (LessonProgress.state != "skipped"),
        )
        .where(
            StudyParticipant.study_id == study_id,
            StudyParticipant.arm_id == arm_id,
            StudyParticipant.lost_on.is_(None),
        )
        .group_by(Patient.id, Patient.clinic_id, Patient.clinic_number, Patient.display_name)
        .order_by(Patient.id)
    )
    async with ctx.db.sessions() as session:
        return list(await session.execute(query))


def _out(row: InterviewSelection, people: Sequence[Any]) -> InterviewOut:
    by_id = {p.id: p for p in people}
    patients = [
        Interviewee(
            patient_id=item["patient_id"],
            clinic_id=by_id[item["patient_id"]].clinic_id,
            clinic_number=by_id[item["patient_id"]].clinic_number,
            display_name=by_id[item["patient_id"]].display_name,
            level=item["level"],
            lessons_sent=int(by_id[item["patient_id"]].sent),
            lessons_opened=int(by_id[item["patient_id"]].opened),
        )
        for item in row.chosen
        if item["patient_id"] in by_id
    ]
    return InterviewOut(
        id=row.id,
        study_id=row.study_id,
        arm=row.arm,
        seed=row.seed,
        count=row.wanted,
        eligible=dict(row.eligible),
        made_at=row.made_at,
        patients=patients,
    )


async def _arm(ctx: Scheduler, study_id: int, code: str) -> int:
    async with ctx.db.sessions() as session:
        await load_study(session, study_id)
        arm_id = await session.scalar(
            select(StudyArm.id).where(StudyArm.study_id == study_id, StudyArm.code == code)
        )
    if arm_id is None:
        raise InvalidInput(f"arm: study {study_id} has no arm {code!r}")
    return int(arm_id)


async def select_interviewees(
    ctx: Scheduler, principal: Principal, study_id: int, data: InterviewIn
) -> InterviewOut:
    if not 1 <= data.count <= 50:
        raise InvalidInput("count must be 1-50 (10-15 is usual)")
    if data.seed is not None and not 0 <= data.seed < 2**63:
        raise InvalidInput("seed must be 0 to 2**63 - 1")
    arm_id = await _arm(ctx, study_id, data.arm)
    people = await _usage(ctx, study_id, arm_id)
    levels = {p.id: level_of(int(p.sent), int(p.opened)) for p in people}
    seed = data.seed if data.seed is not None else secrets.randbelow(2**63)
    chosen = choose(levels, data.count, seed)
    row = InterviewSelection(
        study_id=study_id,
        arm=data.arm,
        seed=seed,
        wanted=data.count,
        chosen=[{"patient_id": pid, "level": levels[pid]} for pid in chosen],
        eligible={level: sum(1 for lv in levels.values() if lv == level) for level in LEVELS},
        made_by=principal.token_id,
        made_at=datetime.now(UTC),
    )
    async with ctx.db.transaction() as session:
        session.add(row)
    return _out(row, people)


async def get_selection(ctx: Scheduler, study_id: int, selection_id: int) -> InterviewOut:
    async with ctx.db.sessions() as session:
        row = await session.get(InterviewSelection, selection_id)
    if row is None or row.study_id != study_id:
        raise NotFound(f"no interview selection {selection_id} in study {study_id}")
    arm_id = await _arm(ctx, study_id, row.arm)
    return _out(row, await _usage(ctx, study_id, arm_id))
