"""A consumer process that takes entries and never finishes them: the test SIGKILLs it.

Run as: python -m tests.integration.hanging_consumer REDIS_URL BUS_PREFIX DATABASE_URL SCHEMA_PREFIX
"""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy.ext.asyncio import AsyncSession

from mmt.registry import load_service
from shared.bus import BusKeys
from shared.bus.connect import connect_redis
from shared.db import Database
from shared.messages import BusProbeSent
from tests.integration.busutil import make_consumer


async def main(redis_url: str, prefix: str, database_url: str, schema_prefix: str) -> None:
    redis = connect_redis(redis_url)
    db = Database(database_url, "scheduler", schema_prefix=schema_prefix)

    async def hang(_event: BusProbeSent, _session: AsyncSession) -> None:
        print("handling", flush=True)
        await asyncio.Event().wait()

    consumer = make_consumer(
        redis,
        BusKeys(prefix),
        db,
        load_service("scheduler"),
        handler=hang,
        name="doomed",
        claim_idle_ms=3_600_000,
    )
    await consumer.ensure_groups()
    while True:
        await consumer.poll_once()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
