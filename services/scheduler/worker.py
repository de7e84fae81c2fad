"""The scheduler worker's parts: dispatcher, read-model handlers and the planner's ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.scheduler import doses, planner
from services.scheduler.binding import bind_channel
from services.scheduler.dispatch import BatchDispatcher, Dispatcher
from services.scheduler.mi.due import raise_due_sessions
from services.scheduler.readmodel import (
    answer_record_request,
    ask_survey_question,
    note_wechat_message,
    opt_in,
    opt_out,
    record_lesson_opened,
    store_curriculum,
)
from services.scheduler.receipt_stream import applied_until, heard_until
from services.scheduler.receipt_worker import ReceiptApplier
from services.scheduler.replies import record_reply
from services.scheduler.settings import SchedulerSettings
from services.scheduler.sweeps import (
    fall_back_without_receipt,
    requeue_retries,
    requeue_unsent,
    rescue_stalled,
)
from services.scheduler.tasks.assign import assign_pending
from services.scheduler.tasks.escalation import TaskEscalation
from services.scheduler.tasks.facts import sweep_facts
from services.scheduler.tasks.handlers import (
    on_dropout_risk,
    on_need,
    on_rating,
    on_risk_alert,
    on_urgent_need,
)
from shared.bus import BusKeys, Publisher, StateGuarded
from shared.bus.connect import connect_redis
from shared.channels.factory import build_registry
from shared.channels.settings import ChannelsConfig
from shared.crypto import ConfigurationError, IdentifierCipher, IdentifierSettings
from shared.db import Database
from shared.lesson_links import LessonLinks, LessonLinkSettings
from shared.logging import get_logger
from shared.messages import (
    ChannelBound,
    CurriculumPublished,
    DropoutRiskRaised,
    LessonOpened,
    NeedRaised,
    OptInRequested,
    OptOutRequested,
    RatingGiven,
    ReceiptsReceived,
    RecordRequested,
    ReplyReceived,
    RiskAlertRaised,
    SendMessage,
    SurveyRequested,
    UrgentNeedRaised,
    WeChatMessageReceived,
)
from shared.service import PeriodicJob, WorkerParts
from shared.settings import Settings

log = get_logger(__name__)


def load_cipher() -> IdentifierCipher | None:
    try:
        return IdentifierCipher.from_settings(IdentifierSettings())
    except ConfigurationError as exc:
        log.warning("scheduler.no_identifier_keys", detail=str(exc))
        return None


def load_links() -> LessonLinks | None:
    try:
        return LessonLinks(LessonLinkSettings())
    except ValueError as exc:
        log.warning("scheduler.no_lesson_links", detail=str(exc))
        return None


async def setup(db: Database, settings: Settings) -> WorkerParts:
    config = SchedulerSettings()
    if not settings.bus.redis_url:
        raise SystemExit("REDIS_URL is not set: pacing and the WeChat token need Redis")
    redis = connect_redis(settings.bus.redis_url)
    # A half-configured vendor stops the worker here, with the variable to set.
    channels = build_registry(redis, ChannelsConfig(), key_prefix=settings.bus.bus_prefix)
    dispatcher = Dispatcher(db, load_cipher(), channels, load_links())
    keys = BusKeys(settings.bus.bus_prefix)
    publisher = Publisher(redis, keys, stream_maxlen=settings.bus.bus_stream_maxlen)
    receipts = ReceiptApplier(db, redis, keys)

    async def all_delivered() -> bool:
        return await publisher.all_delivered(SendMessage, group="scheduler")

    async def release() -> None:
        # Drain everything due now, a batch per transaction, then let the tick rest.
        while True:
            released = await planner.release_due(db, config, datetime.now(UTC), publisher.publish)
            if released.queued + sum(released.held.values()) < config.release_batch_size:
                return

    async def plan() -> None:
        now = datetime.now(UTC)
        await planner.resume_due(db, now)
        await planner.plan_ahead(db, config, now)

    async def housekeeping() -> None:
        now = datetime.now(UTC)
        await requeue_retries(db, now)
        await requeue_unsent(db, now, all_delivered)
        await rescue_stalled(db, now)
        await fall_back_without_receipt(
            db,
            now,
            timedelta(minutes=config.receipt_timeout_minutes),
            receipts_applied_until=await applied_until(redis, keys, now),
            receipts_heard_until=await heard_until(redis, keys),
        )
        await planner.fail_stale(db, now)

    access_db = Database.from_settings(settings.database, "access")

    async def missed() -> None:
        await doses.plan_missed_dose_support(db, config, datetime.now(UTC), access_db=access_db)

    # Follow-up tasks (services/scheduler/tasks): the scheduler's own signals, the
    # assignment rule, and overdue tasks texted to the clinic's lead over the SMS channel.
    escalation = TaskEscalation(db, access_db, channels.get("sms"), load_cipher())

    async def task_facts() -> None:
        await sweep_facts(db, access_db, datetime.now(UTC))

    async def task_upkeep() -> None:
        now = datetime.now(UTC)
        await assign_pending(db, access_db, now)
        await escalation.run(now)

    async def mi_sessions_due() -> None:  # MI sessions coming due become tasks (mi/due.py)
        await raise_due_sessions(db, datetime.now(UTC))

    async def aclose() -> None:
        await channels.aclose()
        await redis.aclose()
        await access_db.dispose()

    return WorkerParts(
        handlers={
            SendMessage: dispatcher.handle,
            CurriculumPublished: store_curriculum,
            LessonOpened: record_lesson_opened,
            RecordRequested: answer_record_request,
            SurveyRequested: ask_survey_question,
            OptOutRequested: opt_out,
            OptInRequested: opt_in,
            ChannelBound: bind_channel,
            WeChatMessageReceived: note_wechat_message,
            ReceiptsReceived: receipts.handle,
            RatingGiven: on_rating,  # the ratings read model, then two low in a row
            DropoutRiskRaised: on_dropout_risk,
            RiskAlertRaised: on_risk_alert,
            NeedRaised: on_need,
            UrgentNeedRaised: on_urgent_need,
            ReplyReceived: record_reply,
        },
        batch_handlers={
            SendMessage: StateGuarded(BatchDispatcher(dispatcher).handle),
            # No inbox: the receipt rules make a batch handled twice change nothing (a final
            # state is kept, a failure's fallback is not undone by its own repeat).
            ReceiptsReceived: StateGuarded(receipts.handle_batch),
        },
        jobs=[
            PeriodicJob("release-due", config.planner_interval_s, release),
            PeriodicJob("plan-ahead", 300, plan),
            PeriodicJob("retries-and-stale", 5, housekeeping),
            PeriodicJob("missed-doses", 600, missed),
            PeriodicJob("receipts-waiting", 1, receipts.retry_waiting),
            PeriodicJob("task-facts", 300, task_facts),
            PeriodicJob("task-upkeep", 30, task_upkeep),
            PeriodicJob("mi-sessions-due", 900, mi_sessions_due),  # due dates are days
        ],
        aclose=aclose,
    )
