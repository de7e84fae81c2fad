"""The feedback service's HTTP app."""

from __future__ import annotations

from litestar import Litestar
from redis.asyncio import Redis

from services.feedback.definition import SERVICE
from shared.db import Database
from shared.settings import Settings
from shared.web import build_app


def create_app(
    settings: Settings | None = None, db: Database | None = None, redis: Redis | None = None
) -> Litestar:
    return build_app(
        SERVICE,
        title="MMT feedback service",
        description="Replies, ratings, needs with urgent escalation, and surveys.",
        settings=settings,
        db=db,
        redis=redis,
    )
