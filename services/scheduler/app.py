"""The scheduler service's HTTP app."""

from __future__ import annotations

from litestar import Litestar
from redis.asyncio import Redis

from services.scheduler.definition import SERVICE
from shared.access.api import AuditController, ClinicController
from shared.db import Database
from shared.settings import Settings
from shared.web import build_app


def create_app(
    settings: Settings | None = None, db: Database | None = None, redis: Redis | None = None
) -> Litestar:
    return build_app(
        SERVICE,
        title="MMT scheduler service",
        description=(
            "Patients, schedules, the reminder planner and dispatch over pluggable channels."
        ),
        api_handlers=[ClinicController, AuditController],
        settings=settings,
        db=db,
        redis=redis,
    )
