"""A staff member's own training: the staff lessons read (once per lesson version) and
their quiz rounds. Only ever the caller's own rows (the staff id is the token's)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.content.models import QuizAttempt, StaffLessonRead
from services.content.training import lessons as staff
from services.content.training import rounds
from services.content.training.people import staff_id_of, trainee
from services.content.training.schemas import LessonState, MyTraining, ReadOut, RoundState
from shared.access.tokens import Principal
from shared.db import Database
from shared.errors import NotFound


async def my_training(
    db: Database, access_db: Database, principal: Principal, language: str, now: datetime
) -> MyTraining:
    person = await trainee(access_db, db, principal)
    async with db.sessions() as session:
        current = await staff.staff_lessons(session)
        reads = await session.execute(
            select(StaffLessonRead).where(StaffLessonRead.staff_id == person.id)
        )
        read_at = {(r.track, r.lesson_key, r.version): r.read_at for r in reads.scalars()}
        attempts = await session.execute(
            select(QuizAttempt).where(QuizAttempt.staff_id == person.id)
        )
        taken = {a.round_month: a for a in attempts.scalars()}
    lesson_states = [
        LessonState(
            track=lesson.track,
            key=lesson.key,
            version=lesson.version,
            title=lesson.title(language),
            read_at=read_at.get((lesson.track, lesson.key, lesson.version)),
        )
        for lesson in current
    ]
    round_states = []
    for window in rounds.windows(person.started_at):
        attempt = taken.get(window.month)
        round_states.append(
            RoundState(
                round=window.name,
                opens_at=window.opens_at,
                closes_at=window.closes_at,
                status=window.status(now, attempt is not None),  # type: ignore[arg-type]
                taken_at=attempt.taken_at if attempt else None,
                score=attempt.correct / attempt.questions if attempt else None,
            )
        )
    return MyTraining(
        staff_id=person.id,
        started_at=person.started_at,
        lessons=lesson_states,
        lessons_read=sum(1 for s in lesson_states if s.read_at is not None),
        rounds=round_states,
    )


async def mark_read(
    db: Database, principal: Principal, track: str, key: str, now: datetime
) -> ReadOut:
    """The caller read the published version of a staff lesson; again is a no-op that
    keeps the first time."""
    staff_id = staff_id_of(principal)
    async with db.sessions() as session:
        found = [
            lesson
            for lesson in await staff.staff_lessons(session)
            if lesson.track == track and lesson.key == key
        ]
    if not found:
        raise NotFound(f"no published staff lesson {key!r} in track {track!r}")
    version = found[0].version
    where = (
        StaffLessonRead.staff_id == staff_id,
        StaffLessonRead.track == track,
        StaffLessonRead.lesson_key == key,
        StaffLessonRead.version == version,
    )
    try:
        async with db.transaction() as session:
            earlier = (await session.execute(select(StaffLessonRead).where(*where))).scalar()
            if earlier is not None:
                return ReadOut(
                    track=track, key=key, version=version, read_at=earlier.read_at, already=True
                )
            session.add(
                StaffLessonRead(
                    staff_id=staff_id, track=track, lesson_key=key, version=version, read_at=now
                )
            )
    except IntegrityError:  # the same person's second tab, a moment earlier
        async with db.sessions() as session:
            earlier = (await session.execute(select(StaffLessonRead).where(*where))).scalar_one()
        return ReadOut(track=track, key=key, version=version, read_at=earlier.read_at, already=True)
    return ReadOut(track=track, key=key, version=version, read_at=now, already=False)
