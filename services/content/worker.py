"""The content worker's parts: the staff-training nudges (a periodic job)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.content.training.settings import TrainingSettings
from shared.crypto import ConfigurationError, IdentifierCipher, IdentifierSettings
from shared.db import Database
from shared.logging import get_logger
from shared.service import PeriodicJob, WorkerParts
from shared.settings import Settings

log = get_logger(__name__)
NUDGE_EVERY_S = 300.0  # a due quiz or a new lesson can wait minutes, not seconds


async def setup(db: Database, settings: Settings) -> WorkerParts:
    if not TrainingSettings().training_nudges:
        return WorkerParts()
    try:  # staff phones are encrypted like patients'
        cipher = IdentifierCipher.from_settings(IdentifierSettings())
    except ConfigurationError as exc:
        log.warning("content.training_nudges_off", detail=str(exc))
        return WorkerParts()
    if not settings.bus.redis_url:
        raise SystemExit("REDIS_URL is not set: the bus and SMS pacing need Redis")
    # Here, not at the top: the content API imports this module (definition.py) and needs
    # neither the channels nor their vendors' SDKs.
    from services.content.training.nudges import Nudger
    from shared.bus.connect import connect_redis
    from shared.channels.factory import build_registry
    from shared.channels.settings import ChannelsConfig

    # The SMS channel the reminders use, configured the same way (as feedback's escalation).
    redis = connect_redis(settings.bus.redis_url)
    channels = build_registry(redis, ChannelsConfig(), key_prefix=settings.bus.bus_prefix)
    sms = channels.get("sms")
    if sms is None:
        log.warning("content.training_nudges_off", detail="no sms channel")
        await channels.aclose()
        await redis.aclose()
        return WorkerParts()
    access_db = Database.from_settings(settings.database, "access")
    nudger = Nudger(db, access_db, sms, cipher)

    async def nudge() -> None:
        await nudger.run(datetime.now(UTC))

    async def aclose() -> None:
        await channels.aclose()
        await redis.aclose()
        await access_db.dispose()

    return WorkerParts(jobs=[PeriodicJob("training-nudges", NUDGE_EVERY_S, nudge)], aclose=aclose)
