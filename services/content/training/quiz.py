"""The provider knowledge quiz: a round's questions in the reader's language (never the
answers), and answering a round once, scored as the share correct."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.content.models import QuizAnswer, QuizAttempt
from services.content.training import rounds
from services.content.training.lessons import StaffLesson, quiz_of, staff_lessons
from services.content.training.people import trainee
from services.content.training.schemas import (
    AnswerOut,
    QuizIn,
    QuizOut,
    QuizQuestion,
    QuizResult,
)
from shared.access.tokens import Principal
from shared.db import Database
from shared.errors import Conflict, InvalidInput, NotFound


class AnswerRefused(InvalidInput):
    """An answer to no question, a question left out or an option that is not one: 422,
    naming each question; nothing is stored."""

    status_code = 422


async def _round(
    db: Database, access_db: Database, principal: Principal, name: str
) -> tuple[int, rounds.Window]:
    month = rounds.round_month(name)
    person = await trainee(access_db, db, principal)
    return person.id, rounds.window(person.started_at, month)


async def _taken(db: Database, staff_id: int, month: int) -> QuizAttempt | None:
    async with db.sessions() as session:
        return (
            await session.execute(
                select(QuizAttempt).where(
                    QuizAttempt.staff_id == staff_id, QuizAttempt.round_month == month
                )
            )
        ).scalar()


async def questions(
    db: Database,
    access_db: Database,
    principal: Principal,
    name: str,
    language: str,
    now: datetime,
) -> QuizOut:
    staff_id, window = await _round(db, access_db, principal, name)
    taken = await _taken(db, staff_id, window.month)
    async with db.sessions() as session:
        quiz = quiz_of(await staff_lessons(session))
    if not quiz:
        raise NotFound("no staff lesson with a quiz is published")
    shown = []
    for lesson in quiz:
        question = lesson.question(language)
        shown.append(
            QuizQuestion(
                id=lesson.id,
                track=lesson.track,
                key=lesson.key,
                version=lesson.version,
                question=question.text,
                options=list(question.options),
            )
        )
    return QuizOut(
        round=name,
        language=language,
        status=window.status(now, taken is not None),  # type: ignore[arg-type]
        opens_at=window.opens_at,
        closes_at=window.closes_at,
        questions=shown,
    )


def _check(quiz: list[StaffLesson], answers: dict[str, int]) -> None:
    by_id = {lesson.id: lesson for lesson in quiz}
    problems = [f"{qid}: no such question in this quiz" for qid in answers if qid not in by_id]
    for lesson in quiz:
        choice = answers.get(lesson.id)
        options = len(lesson.question("zh-CN").options)
        if choice is None:
            problems.append(f"{lesson.id}: not answered")
        elif not 0 <= choice < options:
            problems.append(f"{lesson.id}: {choice} is not an option (0-{options - 1})")
    if problems:
        raise AnswerRefused("answers: " + "; ".join(problems))


async def take(
    db: Database,
    access_db: Database,
    principal: Principal,
    name: str,
    data: QuizIn,
    now: datetime,
) -> QuizResult:
    staff_id, window = await _round(db, access_db, principal, name)
    taken = await _taken(db, staff_id, window.month)
    if taken is not None:
        raise Conflict(f"round {name} was taken on {taken.taken_at.isoformat()}; once only")
    status = window.status(now, False)
    if status == "upcoming":
        raise Conflict(f"round {name} is not due until {window.opens_at.isoformat()}")
    if status == "missed":
        raise Conflict(f"round {name} closed on {window.closes_at.isoformat()}")
    async with db.sessions() as session:
        quiz = quiz_of(await staff_lessons(session))
    if not quiz:
        raise NotFound("no staff lesson with a quiz is published")
    _check(quiz, data.answers)
    marked = [(lesson, data.answers[lesson.id]) for lesson in quiz]
    answers = [
        QuizAnswer(
            track=lesson.track,
            lesson_key=lesson.key,
            version=lesson.version,
            choice=choice,
            correct=choice == lesson.answer,
        )
        for lesson, choice in marked
    ]
    correct = sum(1 for a in answers if a.correct)
    attempt = QuizAttempt(
        staff_id=staff_id,
        round_month=window.month,
        taken_at=now,
        questions=len(answers),
        correct=correct,
        answers=answers,
    )
    try:
        async with db.transaction() as session:
            session.add(attempt)
    except IntegrityError:  # the same round sent twice at once: the first one counts
        raise Conflict(f"round {name} was taken a moment ago; once only") from None
    return QuizResult(
        round=name,
        taken_at=now,
        questions=len(answers),
        correct=correct,
        score=correct / len(answers),
        answers=[
            AnswerOut(id=lesson.id, choice=choice, correct=choice == lesson.answer)
            for lesson, choice in marked
        ],
    )
