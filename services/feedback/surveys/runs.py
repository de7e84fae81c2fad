"""Survey runs: one patient, one survey, one question at a time.

Feedback decides what to ask and the scheduler sends it (`SurveyRequested`), so a question
obeys the same channel order, quiet hours, daily cap and opt-out as any reminder. A reply
answers the question now asked; the next is asked at once; the last is thanked. A question
left unanswered for FEEDBACK_SURVEY_TIMEOUT_HOURS ends its run as `timed_out`: we do not
keep asking someone who does not answer. A patient has at most one open run (a unique
index), so a digit always means one thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.grammar import Kind, Reply
from services.feedback.models import Sender, SurveyAnswer, SurveyDefinition, SurveyRun
from services.feedback.surveys.definitions import (
    BUILT_IN,
    LESSON_HELPFULNESS,
    Survey,
    out_of_range,
    render,
    thanks,
)
from shared.db import Database
from shared.messages import Event, RatingGiven, SurveyRequested

QUESTION_WINDOW_HOURS = 24  # a question the scheduler could not send by then expires


async def definition(session: AsyncSession, key: str) -> Survey | None:
    if key in BUILT_IN:
        return BUILT_IN[key]
    row = await session.get(SurveyDefinition, key)
    return None if row is None else msgspec.convert(row.definition, Survey)


def ask(run: SurveyRun, survey: Survey, language: str, not_before: datetime | None = None) -> Event:
    question = survey.questions[run.question_index]
    return SurveyRequested(
        patient_id=run.patient_id,
        run_id=run.id,
        question_key=question.key,
        text=render(survey, run.question_index, language),
        not_before=not_before,
        window_hours=QUESTION_WINDOW_HOURS,
    )


async def has_open_run(session: AsyncSession, patient_id: int) -> bool:
    found = await session.execute(
        select(SurveyRun.id).where(SurveyRun.patient_id == patient_id, SurveyRun.state == "open")
    )
    return found.first() is not None


async def start(
    session: AsyncSession,
    sender: Sender,
    survey: Survey,
    *,
    started_by: str,
    now: datetime,
    not_before: datetime | None = None,
    lesson: tuple[str, str, str | None] | None = None,  # track, lesson key, module
) -> tuple[SurveyRun, Event]:
    """Open a run and ask its first question; the caller checked the patient has none open."""
    run = SurveyRun(
        survey_key=survey.key,
        patient_id=sender.patient_id,
        clinic_id=sender.clinic_id,
        study_arm=sender.study_arm,
        state="open",
        question_index=0,
        asked_at=not_before or now,
        started_at=now,
        started_by=started_by,
    )
    if lesson is not None:
        run.track, run.lesson_key, run.module = lesson
    session.add(run)
    await session.flush()  # the run's id travels with the question
    return run, ask(run, survey, sender.language, not_before)


@dataclass
class Answered:
    """What a reply did to an open survey: the inbound row's kind, events, an answer."""

    kind: str  # survey_answer, rating (a lesson's helpfulness), survey_invalid
    reply: str | None
    events: list[Event] = field(default_factory=list)
    rating: int | None = None
    lesson: tuple[str | None, str | None, str | None] = (None, None, None)


def _value(reply: Reply, text: str, kind: str) -> tuple[int | None, str | None] | None:
    """The answer a reply gives to a question of `kind`, or None if it is no answer."""
    if reply.kind in (Kind.RATING, Kind.NUMBER):
        return (reply.rating, None) if kind != "text" else (None, text.strip())
    if kind == "text" and reply.kind is Kind.NEED and not reply.urgent:
        return None, text.strip()[:2000]
    return None  # a command, an urgent message, words for a number: handled as usual


async def open_run(session: AsyncSession, patient_id: int) -> SurveyRun | None:
    """The patient's open run (at most one), locked: a reply answers it or cancels it."""
    return (
        await session.execute(
            select(SurveyRun)
            .where(SurveyRun.patient_id == patient_id, SurveyRun.state == "open")
            .with_for_update()
        )
    ).scalar_one_or_none()


async def answer(
    session: AsyncSession,
    run: SurveyRun | None,
    sender: Sender,
    reply: Reply,
    text: str,
    now: datetime,
) -> Answered | None:
    """Answer the question now asked of this patient in `run` (their open run, locked by
    the caller: `open_run`), if the reply is an answer to it."""
    if run is None or run.state != "open" or run.asked_at > now:
        return None  # none open, or its first question not yet due (a lesson's, delayed)
    survey = await definition(session, run.survey_key)
    if survey is None or run.question_index >= len(survey.questions):
        run.state, run.finished_at = "cancelled", now  # its definition is gone
        return None
    question = survey.questions[run.question_index]
    given = _value(reply, text, question.type)
    if given is None:
        return None
    value, words = given
    if value is not None and not question.accepts(value):
        return Answered("survey_invalid", out_of_range(question, sender.language))
    session.add(
        SurveyAnswer(
            run_id=run.id,
            question_key=question.key,
            state="answered",
            value=value,
            text=words,
            at=now,
        )
    )
    done = _advance(run, survey, now)
    result = Answered("survey_answer", thanks(sender.language) if done else None)
    if not done:
        result.events.append(ask(run, survey, sender.language))
    if run.survey_key == LESSON_HELPFULNESS and value is not None:
        # Its answer is the lesson's rating: reported with the others, per lesson and module.
        result.kind, result.rating = "rating", value
        result.lesson = (run.track, run.lesson_key, run.module)
        result.events.append(
            RatingGiven(
                patient_id=run.patient_id,
                clinic_id=run.clinic_id,
                rating=value,
                track=run.track,
                lesson_key=run.lesson_key,
            )
        )
    return result


def _advance(run: SurveyRun, survey: Survey, now: datetime) -> bool:
    """Move to the next question; True when that was the last."""
    run.question_index += 1
    run.asked_at = now
    if run.question_index < len(survey.questions):
        return False
    run.state, run.finished_at = "completed", now
    return True


def cancel_open(run: SurveyRun | None, now: datetime) -> None:
    """The patient opted out: their survey (`open_run`) stops with them."""
    if run is not None and run.state == "open":
        run.state, run.finished_at = "cancelled", now


def close_unanswered(
    run: SurveyRun, survey: Survey | None, session: AsyncSession, now: datetime
) -> None:
    """End `run` as timed out, recording which question went unanswered."""
    if survey is not None and run.question_index < len(survey.questions):
        question = survey.questions[run.question_index]
        session.add(
            SurveyAnswer(run_id=run.id, question_key=question.key, state="timed_out", at=now)
        )
    run.state, run.finished_at = "timed_out", now


async def time_out(db: Database, now: datetime, after: timedelta, batch: int = 1000) -> int:
    """Close runs whose question has waited too long; replicas share the work."""
    async with db.transaction() as session:
        runs: Sequence[SurveyRun] = (
            (
                await session.execute(
                    select(SurveyRun)
                    .where(SurveyRun.state == "open", SurveyRun.asked_at < now - after)
                    .order_by(SurveyRun.asked_at)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        for run in runs:
            close_unanswered(run, await definition(session, run.survey_key), session, now)
    return len(runs)
