"""`mmt bench planner`: time and memory to plan a day for N patients.

Patients are made inside PostgreSQL (generate_series), so this process never holds them:
its peak memory is the planner's. They look like a national programme's: most in
Asia/Shanghai, a tenth in Asia/Urumqi, dose times from 06:00 to 10:00 in 10-minute steps,
quiet hours 22:00-06:00, 500 clinics, and a third paused (compulsory detoxification takes
about that many away). `plan_ahead` then plans today and tomorrow, as the worker's tick does.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text

from mmt.bench.common import bench_cipher, machine, peak_rss_mb, throwaway
from mmt.registry import load_service
from services.scheduler import planner
from services.scheduler.models import Occurrence
from services.scheduler.settings import SchedulerSettings
from shared.db import Database
from shared.logging import configure_logging
from shared.migrate import migrate

_PATIENTS = """
INSERT INTO "{schema}".patients (
    clinic_id, clinic_number, display_name, phone_enc, phone_hash, channel_order, language,
    time_zone, dose_time, quiet_start, quiet_end, state, consent_version, consent_at,
    consent_recorded_by, enrolled_at, updated_at, explicit_wording)
SELECT 1 + i % 500, 'P' || i, 'B.', :phone, 'h' || i, '["sms"]', 'zh-CN',
    CASE WHEN i % 10 = 0 THEN 'Asia/Urumqi' ELSE 'Asia/Shanghai' END,
    time '06:00' + (i % 25) * interval '10 minutes', time '22:00', time '06:00',
    CASE WHEN i % 3 = 0 THEN 'paused' ELSE 'active' END,
    'bench', now(), 'bench', now(), now(), false
FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS i
"""
CHUNK = 100_000


async def bench_planner(database_url: str, redis_url: str, n: int) -> dict[str, Any]:
    configure_logging("bench", "WARNING")
    async with throwaway(redis_url) as place:
        db = Database(database_url, "scheduler", schema_prefix=place.prefix)
        try:
            await migrate(db, load_service("scheduler").migrations)
            cipher, _ = bench_cipher()
            seeding = time.perf_counter()
            # The schema is our own generated identifier, never input.
            insert = text(_PATIENTS.format(schema=db.schema))
            for first in range(1, n + 1, CHUNK):
                async with db.transaction() as session:
                    await session.execute(
                        insert,
                        {
                            "phone": cipher.encrypt("+8613800138000"),
                            "first": first,
                            "last": min(first + CHUNK - 1, n),
                        },
                    )
            async with db.engine.begin() as conn:
                await conn.execute(text(f'ANALYZE "{db.schema}".patients'))
            seed_s = time.perf_counter() - seeding
            rss_before = peak_rss_mb()
            started = time.perf_counter()
            planned = await planner.plan_ahead(db, SchedulerSettings(), datetime.now(UTC))
            plan_s = time.perf_counter() - started
            again = time.perf_counter()
            replanned = await planner.plan_ahead(db, SchedulerSettings(), datetime.now(UTC))
            again_s = time.perf_counter() - again
            async with db.sessions() as session:
                stored = (
                    await session.execute(select(func.count()).select_from(Occurrence))
                ).scalar_one()
            facts = await machine(db, place.redis)
        finally:
            await db.drop_schema()
            await db.dispose()
    return {
        "benchmark": "planner",
        "patients": n,
        "seed_s": round(seed_s, 3),
        "planned": planned,
        "occurrences": int(stored),
        "plan_s": round(plan_s, 3),
        "planned_per_second": round(planned / plan_s, 1) if plan_s else None,
        "replan_s": round(again_s, 3),  # idempotent: the second pass plans nothing new
        "replanned": replanned,
        "peak_rss_mb": {"before_planning": rss_before, "planner": peak_rss_mb()},
        "machine": facts,
    }
