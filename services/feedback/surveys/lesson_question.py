"""After each lesson, one helpfulness question (FEEDBACK_LESSON_QUESTION): its answer is the
lesson's rating, so ratings come from many patients, not only those who reply unprompted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.models import Outbox, Sender, SurveyRun
from services.feedback.readmodel import store_last_lesson
from services.feedback.surveys import runs
from services.feedback.surveys.definitions import BUILT_IN, LESSON_HELPFULNESS
from shared.bus import add_to_outbox
from shared.messages import LessonSent


class LessonQuestions:
    def __init__(self, *, enabled: bool, delay: timedelta) -> None:
        self.enabled = enabled
        self.delay = delay

    async def on_lesson_sent(self, event: LessonSent, session: AsyncSession) -> None:
        await store_last_lesson(event, session)
        if not self.enabled:
            return
        sender = await session.get(Sender, event.patient_id)
        if sender is None or sender.opted_out or sender.state != "active":
            return
        now = datetime.now(UTC)
        open_run = (
            await session.execute(
                select(SurveyRun)
                .where(SurveyRun.patient_id == sender.patient_id, SurveyRun.state == "open")
                .with_for_update()
            )
        ).scalar_one_or_none()
        if open_run is not None:
            if open_run.survey_key != LESSON_HELPFULNESS or open_run.started_at > event.occurred_at:
                return  # a survey in progress is not interrupted; nor is a newer question
            # The previous lesson's question went unanswered: this lesson's replaces it.
            runs.close_unanswered(open_run, BUILT_IN[LESSON_HELPFULNESS], session, now)
            await session.flush()  # the open-run index must see it closed first
        _, ask = await runs.start(
            session,
            sender,
            BUILT_IN[LESSON_HELPFULNESS],
            started_by="lesson",
            now=now,
            not_before=event.occurred_at + self.delay,
            lesson=(event.track, event.lesson_key, event.module),
        )
        add_to_outbox(session, Outbox, ask)
