"""The content service's HTTP app: the curriculum API and the lesson pages."""

from __future__ import annotations

import secrets

from litestar import Litestar
from redis.asyncio import Redis

from services.content.api import TrackController
from services.content.definition import SERVICE
from services.content.pages import lesson_page, lesson_quiz
from services.content.training.api import TrainingController
from shared.channels.settings import WeChatSettings
from shared.db import Database
from shared.lesson_links import LessonLinks, LessonLinkSettings
from shared.logging import get_logger
from shared.settings import Settings
from shared.web import build_app

log = get_logger(__name__)


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    redis: Redis | None = None,
    links: LessonLinks | None = None,
    link_settings: LessonLinkSettings | None = None,
    wechat: WeChatSettings | None = None,
) -> Litestar:
    """`links` verify lesson-page links; by default built from LESSON_LINK_SECRET.
    `wechat` (WECHAT_TEMPLATES, WECHAT_SEND_MODE) shapes the WeChat preview.

    Without a secret the API still works, and lesson pages answer 503 saying why.
    """
    link_settings = link_settings or LessonLinkSettings()
    if links is None and link_settings.lesson_link_secret:
        links = LessonLinks(link_settings)  # a secret too short stops start-up, with why
    # Previews show a link of the real length even when links are off (it opens nothing).
    sample_links = links or LessonLinks(
        LessonLinkSettings(
            lesson_link_secret=secrets.token_urlsafe(32),
            content_public_url=link_settings.content_public_url,
        )
    )
    app = build_app(
        SERVICE,
        title="MMT content service",
        description="Curriculum and cadence: tracks, modules, lessons, versions and lesson pages.",
        api_handlers=[TrackController, TrainingController],
        root_handlers=[lesson_page, lesson_quiz],
        extra_state={
            "lesson_links": links,
            "sample_links": sample_links,
            "wechat": wechat or WeChatSettings(),
        },
        settings=settings,
        db=db,
        redis=redis,
    )
    if links is None:  # logged after build_app has configured logging
        log.warning("content.lesson_links_off", reason="LESSON_LINK_SECRET is not set")
    return app
