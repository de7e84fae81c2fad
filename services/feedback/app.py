"""The feedback service's HTTP app."""

from __future__ import annotations

from litestar import Litestar
from redis.asyncio import Redis

from services.feedback.api import FeedbackController, NeedController
from services.feedback.definition import SERVICE
from services.feedback.reports.api import ExportController, ReportController
from services.feedback.reports.provider_api import ProviderInteractionController
from services.feedback.surveys.api import ClinicSurveyController, SurveyController
from services.feedback.webhooks import WebhookConfig, twilio_sms
from services.feedback.webhooks_cn import aliyun_up, tencent_reply
from services.feedback.wechat_webhook import wechat_message, wechat_verify
from shared.channels.sms_push import SmsPushConfig
from shared.crypto import ConfigurationError, IdentifierCipher, IdentifierSettings
from shared.db import Database
from shared.logging import get_logger
from shared.settings import Settings
from shared.web import build_app

log = get_logger(__name__)


def load_cipher() -> IdentifierCipher | None:
    """Only the look-up hash is used here: senders are recognised, never decrypted."""
    try:
        return IdentifierCipher.from_settings(IdentifierSettings())
    except ConfigurationError as exc:
        log.warning("feedback.no_identifier_keys", detail=str(exc))
        return None


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    redis: Redis | None = None,
    cipher: IdentifierCipher | None = None,
) -> Litestar:
    cipher = cipher or load_cipher()
    return build_app(
        SERVICE,
        title="MMT feedback service",
        description="Patients' replies over SMS and WeChat: ratings, opt-out, needs with "
        "urgent escalation; needs and feedback for coordinators.",
        api_handlers=[
            NeedController,
            FeedbackController,
            SurveyController,
            ClinicSurveyController,
            ReportController,
            ExportController,
            ProviderInteractionController,
        ],
        root_handlers=[twilio_sms, wechat_verify, wechat_message, aliyun_up, tencent_reply],
        extra_state={
            "webhooks": WebhookConfig.from_environment(cipher),
            "cipher": cipher,
            "sms_push": SmsPushConfig.from_environment(),
        },
        settings=settings,
        db=db,
        redis=redis,
    )
