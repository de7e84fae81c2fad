"""The feedback worker's parts: the read model of senders and lessons, urgent alerts, and
patients' messages from the inbound partition streams (parsed, stored and answered)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from redis.asyncio import Redis

from services.feedback import surveys
from services.feedback.escalation import Escalation, alert_webhook
from services.feedback.grammar import Grammar, split_words
from services.feedback.inbound_partitions import PartitionRunner
from services.feedback.inbound_worker import InboundHandler
from services.feedback.readmodel import store_sender
from services.feedback.settings import FeedbackSettings
from services.feedback.sms_answers import Answers
from services.feedback.surveys.lesson_question import LessonQuestions
from services.feedback.surveys.provider_schedule import ask_again
from shared.bus import BusKeys, Handler
from shared.bus.connect import connect_redis
from shared.channels.factory import build_registry
from shared.channels.registry import ChannelRegistry
from shared.channels.settings import ChannelsConfig
from shared.crypto import ConfigurationError, IdentifierCipher, IdentifierSettings
from shared.db import Database
from shared.logging import get_logger
from shared.messages import LessonSent, Message, PatientEnrolled, PatientUpdated, UrgentNeedRaised
from shared.service import PeriodicJob, WorkerParts
from shared.settings import Settings

log = get_logger(__name__)


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

    jobs = [PeriodicJob("survey-timeouts", 60, time_out_surveys)]
    if config.feedback_provider_survey_every_days:
        every = timedelta(days=config.feedback_provider_survey_every_days)

        async def ask_about_providers() -> None:
            while await ask_again(db, datetime.now(UTC), every) > 0:
                pass  # a batch per transaction until nobody is due

        jobs.append(PeriodicJob("provider-survey", 3600, ask_about_providers))
    runner = inbound_runner(db, access_db, redis, channels, settings, config)
    if runner is not None:
        # Each tick renews this worker's partition leases and takes free ones: a dead
        # worker's partitions are read again within LEASE_MS.
        jobs.append(PeriodicJob("inbound-partitions", 1, runner.tick))

    async def aclose() -> None:
        if runner is not None:
            await runner.aclose()
        await escalation.aclose()
        await channels.aclose()
        await redis.aclose()
        await access_db.dispose()

    return WorkerParts(handlers=handlers, jobs=jobs, aclose=aclose)


def inbound_runner(
    db: Database,
    access_db: Database,
    redis: Redis,
    channels: ChannelRegistry,
    settings: Settings,
    config: FeedbackSettings,
) -> PartitionRunner | None:
    """Patients' messages, read from the partitions this worker holds; None without
    identifier keys (the webhooks then accept nothing either: 503)."""
    try:
        cipher = IdentifierCipher.from_settings(IdentifierSettings())
    except ConfigurationError as exc:
        log.warning("feedback.no_identifier_keys", detail=str(exc))
        return None
    keys = BusKeys(settings.bus.bus_prefix)
    handler = InboundHandler(
        db,
        access_db,
        redis,
        keys,
        cipher,
        Grammar(split_words(config.feedback_urgent_words_extra)),
        Answers(channels),
        rating_window=timedelta(hours=config.feedback_rating_window_hours),
    )
    return PartitionRunner(
        redis,
        keys,
        handler.handle,
        worker_id=f"{settings.bus.bus_consumer_name}:{uuid4().hex[:8]}",
        keep_ms=settings.bus.outbox_replay_window_s * 1000,
    )
