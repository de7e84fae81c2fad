"""Scores per clinic and round: how many of a clinic's staff had the round open, took it,
their mean score and each question's share correct, and the share of staff lessons read.
Aggregates only (no person is named), so researchers may read them; coordinators see their
own clinics, admins all. Per arm is the console's to compose: the arms are the scheduler's.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select

from services.content.models import QuizAnswer, QuizAttempt, StaffLessonRead
from services.content.training import rounds
from services.content.training.lessons import staff_lessons
from services.content.training.people import Trainee, of_clinic, trainees, visible_clinics
from services.content.training.schemas import ClinicReport, QuestionShare, RoundReport
from shared.access.tokens import Principal
from shared.db import Database


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _round_report(
    month: int,
    people: list[Trainee],
    attempts: dict[tuple[int, int], QuizAttempt],
    answers: dict[int, list[QuizAnswer]],
    now: datetime,
) -> RoundReport:
    opened = [p for p in people if rounds.window(p.started_at, month).opens_at <= now]
    took = [attempts[(p.id, month)] for p in people if (p.id, month) in attempts]
    per_question: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for attempt in took:
        for answer in answers.get(attempt.id, []):
            counts = per_question[f"{answer.track}/{answer.lesson_key}"]
            counts[0] += 1
            counts[1] += int(answer.correct)
    scores = [a.correct / a.questions for a in took if a.questions]
    return RoundReport(
        round=rounds.NAMES[month],
        staff=len(opened),
        took=len(took),
        mean_score=round(sum(scores) / len(scores), 4) if scores else None,
        questions=[
            QuestionShare(id=qid, answered=n, correct=c, share_correct=_share(c, n))
            for qid, (n, c) in sorted(per_question.items())
        ],
    )


async def clinic_reports(
    db: Database,
    access_db: Database,
    principal: Principal,
    clinic_id: int | None,
    now: datetime,
) -> list[ClinicReport]:
    clinics = await visible_clinics(access_db, principal, clinic_id)
    everyone = await trainees(access_db, db)
    by_clinic = {c: of_clinic(everyone, c) for c in clinics}
    staff_ids = sorted({p.id for people in by_clinic.values() for p in people})
    async with db.sessions() as session:
        current = await staff_lessons(session)
        attempt_rows = (
            (await session.execute(select(QuizAttempt).where(QuizAttempt.staff_id.in_(staff_ids))))
            .scalars()
            .all()
        )
        answer_rows = (
            (
                await session.execute(
                    select(QuizAnswer)
                    .join(QuizAttempt, QuizAttempt.id == QuizAnswer.attempt_id)
                    .where(QuizAttempt.staff_id.in_(staff_ids))
                )
            )
            .scalars()
            .all()
        )
        read_rows = await session.execute(
            select(
                StaffLessonRead.staff_id,
                StaffLessonRead.track,
                StaffLessonRead.lesson_key,
                StaffLessonRead.version,
            ).where(StaffLessonRead.staff_id.in_(staff_ids))
        )
        reads = {tuple(r) for r in read_rows.all()}
    attempts = {(a.staff_id, a.round_month): a for a in attempt_rows}
    answers: dict[int, list[QuizAnswer]] = defaultdict(list)
    for answer in answer_rows:
        answers[answer.attempt_id].append(answer)
    reports = []
    for clinic, people in by_clinic.items():
        read = sum(
            1
            for p in people
            for lesson in current
            if (p.id, lesson.track, lesson.key, lesson.version) in reads
        )
        reports.append(
            ClinicReport(
                clinic_id=clinic,
                staff=len(people),
                lessons=len(current),
                lessons_read=read,
                lessons_read_share=_share(read, len(people) * len(current)),
                rounds=[
                    _round_report(month, people, attempts, answers, now)
                    for month in sorted(rounds.ROUNDS.values())
                ],
            )
        )
    return reports
