"""The feedback worker's parts: the read model of senders and lessons, urgent alerts."""

from __future__ import annotations

from services.feedback.escalation import Escalation
from services.feedback.readmodel import store_last_lesson, store_sender
from services.feedback.settings import FeedbackSettings
from shared.bus import Handler
from shared.db import Database
from shared.messages import LessonSent, Message, PatientEnrolled, PatientUpdated, UrgentNeedRaised
from shared.service import WorkerParts
from shared.settings import Settings


async def setup(db: Database, settings: Settings) -> WorkerParts:
    handlers: dict[type[Message], Handler] = {
        PatientEnrolled: store_sender,
        PatientUpdated: store_sender,
        LessonSent: store_last_lesson,
    }
    config = FeedbackSettings()
    escalation = None
    if config.feedback_alert_webhook_url and config.feedback_alert_webhook_secret:
        escalation = Escalation(
            config.feedback_alert_webhook_url,
            config.feedback_alert_webhook_secret.get_secret_value(),
        )
        handlers[UrgentNeedRaised] = escalation.announce
    return WorkerParts(handlers=handlers, aclose=escalation.aclose if escalation else None)
