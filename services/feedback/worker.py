"""The feedback worker's parts: the read model of senders and lessons, urgent alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.feedback import surveys
from services.feedback.escalation import Escalation, alert_webhook
from services.feedback.readmodel import store_sender
from services.feedback.settings import FeedbackSettings
from services.feedback.surveys.lesson_question import LessonQuestions
from shared.bus import Handler
from shared.bus.connect import connect_redis
from shared.channels.factory import build_registry
from shared.channels.settings import ChannelsConfig
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

    # Urgent needs: texted to each clinic's alert_phone over the reminders' SMS channel,
    # and posted to the alert webhook if one is configured.
    if not settings.bus.redis_url:
        raise SystemExit("REDIS_URL is not set: the bus and SMS pacing need Redis")
    redis = connect_redis(settings.bus.redis_url)
    channels = build_registry(redis, ChannelsConfig(), key_prefix=settings.bus.bus_prefix)
    webhook = None
    if config.feedback_alert_webhook_url and config.feedback_alert_webhook_secret:
        webhook = alert_webhook(
            config.feedback_alert_webhook_url,
            config.feedback_alert_webhook_secret.get_secret_value(),
        )
    access_db = Database.from_settings(settings.database, "access")
    escalation = Escalation(access_db, webhook=webhook, sms=channels.get("sms"))
    handlers[UrgentNeedRaised] = escalation.announce

    async def aclose() -> None:
        await escalation.aclose()
        await channels.aclose()
        await redis.aclose()
        await access_db.dispose()

    return WorkerParts(
        handlers=handlers,
        jobs=[PeriodicJob("survey-timeouts", 60, time_out_surveys)],
        aclose=aclose,
    )
