"""The feedback worker's parts: the read model of senders and lessons, urgent alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.feedback import surveys
from services.feedback.escalation import Escalation
from services.feedback.lesson_question import LessonQuestions
from services.feedback.readmodel import store_sender
from services.feedback.settings import FeedbackSettings
from shared.bus import Handler
from shared.db import Database
from shared.messages import LessonSent, Message, PatientEnrolled, PatientUpdated, UrgentNeedRaised
from shared.service import PeriodicJob, WorkerParts
from shared.settings import Settings


async def setup(db: Database, settings: Settings) -> WorkerParts:
    config = FeedbackSettings()
    questions = LessonQuestions(
        enabled=config.feedback_lesson_question,
        delay=timedelta(minutes=config.feedback_lesson_question_delay_minutes),
    )
    handlers: dict[type[Message], Handler] = {
        PatientEnrolled: store_sender,
        PatientUpdated: store_sender,
        LessonSent: questions.on_lesson_sent,
    }
    timeout = timedelta(hours=config.feedback_survey_timeout_hours)

    async def time_out_surveys() -> None:
        while await surveys.time_out(db, datetime.now(UTC), timeout) > 0:
            pass  # a batch per transaction until none is left

    escalation = None
    if config.feedback_alert_webhook_url and config.feedback_alert_webhook_secret:
        escalation = Escalation(
            config.feedback_alert_webhook_url,
            config.feedback_alert_webhook_secret.get_secret_value(),
        )
        handlers[UrgentNeedRaised] = escalation.announce
    return WorkerParts(
        handlers=handlers,
        jobs=[PeriodicJob("survey-timeouts", 60, time_out_surveys)],
        aclose=escalation.aclose if escalation else None,
    )
