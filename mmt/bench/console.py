"""`mmt bench console`: the console's pages for a clinic of N patients with D days of
history, under S concurrent staff sessions.

The console, the scheduler and the feedback apps run in this one process on one event loop
(the console's API client reaches the others through ASGI, as in the console's tests), on
throwaway schemas. Each session signs in as its own coordinator, then asks for its pages
one after another, pausing about `--think` seconds to read each (0: as fast as they
answer, a closed loop of S people clicking at once: the saturation case). A
page's time is from the request to its last byte, so it includes the console's API calls
and the services' database reads: what a person waits for, on one core.

By default the day board (Today) and the patient page (each request a different patient,
month calendar, timeline, replies) are measured; the needs inbox and who-is-struggling
can be added or chosen instead (`--pages`).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from litestar import Litestar
from sqlalchemy import insert, text

from mmt.bench.common import bench_cipher, cpu_seconds, machine, patient_row, percentiles, phone
from mmt.bench.common import throwaway as throwaway_place
from mmt.bench.console_history import seed_console_history
from mmt.registry import load_service
from services.console.app import create_app as create_console
from services.console.settings import ConsoleSettings
from services.scheduler.models import Patient
from shared.access.clinics import ClinicIn, create_clinic
from shared.access.staff import create_staff
from shared.access.tokens import Role
from shared.crypto import IdentifierCipher
from shared.db import Database
from shared.logging import configure_logging
from shared.migrate import ACCESS_MIGRATIONS, migrate
from shared.settings import (
    AccessSettings,
    BusSettings,
    DatabaseSettings,
    LogSettings,
    ServiceSettings,
    Settings,
)

PAGES = {
    "today": "/clinics/{clinic}/today",
    "patient": "/clinics/{clinic}/patients/{patient}",
    "needs": "/clinics/{clinic}/needs",
    "struggling": "/clinics/{clinic}/struggling",
}
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
ZONE = "Asia/Shanghai"
# A need for one patient in seven every ten days; one in five of them urgent.
_NEEDS = (
    """INSERT INTO "{s}".inbound_messages
         (patient_id, clinic_id, channel, provider_id, received_at, kind, text)
       SELECT p, :clinic_id, 'sms', 'bench-' || p || '-' || d,
              CAST(:now AS timestamptz) - d * interval '1 day', 'need', '我需要帮助 ' || p
       FROM generate_series(1, CAST(:patients AS int)) p,
            generate_series(0, CAST(:days AS int) - 1, 10) d
       WHERE p % 7 = 0""",
    """INSERT INTO "{s}".needs (inbound_id, patient_id, clinic_id, category, urgent, status,
         created_at, updated_at)
       SELECT id, patient_id, clinic_id, 'other', patient_id % 5 = 0,
              CASE WHEN received_at < CAST(:now AS timestamptz) - interval '14 days'
                   THEN 'resolved' ELSE 'new' END,
              received_at, received_at
       FROM "{s}".inbound_messages WHERE kind = 'need'""",
)


def _asgi(app: Litestar) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=app)  # type: ignore[arg-type]


class _Services(httpx.AsyncBaseTransport):
    """The scheduler and feedback apps by host name, in process."""

    def __init__(self, apps: dict[str, Litestar]) -> None:
        # Litestar types its ASGI scope narrower than httpx's mapping; the protocol is one.
        self.routes = {host: _asgi(app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.routes[request.url.host].handle_async_request(request)


def _settings(database_url: str, redis_url: str, prefix: str) -> Settings:
    return Settings(
        database=DatabaseSettings(database_url=database_url, database_schema_prefix=prefix),
        bus=BusSettings(redis_url=redis_url, bus_prefix=prefix.rstrip("_")),
        access=AccessSettings(),
        service=ServiceSettings(),
        log=LogSettings(log_level="WARNING"),
    )


async def _seed(
    dbs: dict[str, Database],
    patients: int,
    days: int,
    sessions: int,
    now: datetime,
    password: str,
    cipher: IdentifierCipher,
) -> int:
    """The clinic, its patients and their history, needs, and one coordinator a session."""
    clinic = await create_clinic(
        dbs["access"],
        ClinicIn(code="BENCH", name="Bench", time_zone=ZONE, help_phone="0877 2012345"),
    )
    enrolled = now - timedelta(days=days + 1)
    rows = [
        patient_row(
            i,
            enrolled,
            cipher.encrypt(phone(i)),
            clinic_id=clinic.id,
            dose_time=clock_time(6 + i % 6, (i * 7) % 60),
        )
        for i in range(patients)
    ]
    async with dbs["scheduler"].transaction() as session:
        await session.execute(insert(Patient), rows)
    today = now.astimezone(ZoneInfo(ZONE)).date()
    await seed_console_history(
        dbs["scheduler"], clinic.id, today - timedelta(days=days), today - timedelta(days=1)
    )
    params = {"clinic_id": clinic.id, "now": now, "patients": patients, "days": days}
    async with dbs["feedback"].engine.begin() as conn:
        for statement in _NEEDS:
            await conn.execute(text(statement.format(s=dbs["feedback"].schema)), params)
    for n in range(sessions):
        await create_staff(
            dbs["access"],
            login=f"bench.staff{n}",
            name=f"Bench {n}",
            role=Role.COORDINATOR,
            clinics=["BENCH"],
            password=password,
        )
    return clinic.id


@asynccontextmanager
async def _running(settings: Settings, cipher: IdentifierCipher) -> AsyncIterator[Litestar]:
    """The console with the scheduler and feedback apps behind it, all started."""
    apps = {
        name: importlib.import_module(f"services.{name}.app").create_app(
            settings=settings, cipher=cipher
        )
        for name in ("scheduler", "feedback")
    }
    console = create_console(
        settings=settings,
        console_settings=ConsoleSettings(
            console_scheduler_base_url="http://scheduler",
            console_feedback_base_url="http://feedback",
        ),
        transport=_Services(apps),
    )
    async with AsyncExitStack() as stack:
        for app in (*apps.values(), console):
            await stack.enter_async_context(app.lifespan())
        yield console


async def _session(console: Litestar, n: int, password: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=_asgi(console), base_url="http://c")
    form = await client.get("/signin")
    found = _CSRF.search(form.text)
    assert found, "the sign-in page has a CSRF field"
    data = {"login": f"bench.staff{n}", "password": password, "_csrf_token": found.group(1)}
    signed = await client.post("/signin", data=data)
    if signed.status_code != 303:
        raise RuntimeError(f"bench sign-in refused: HTTP {signed.status_code}")
    return client


async def _load(
    clients: list[httpx.AsyncClient],
    paths: dict[str, str],
    rounds: int,
    think: float,
    patients: int,
) -> tuple[dict[str, list[float]], int]:
    """Every session asks for each page in turn, `rounds` times, reading each for about
    `think` seconds (0: at once, the saturation case); seconds per page."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    errors = 0

    async def staff(client: httpx.AsyncClient, offset: int) -> None:
        nonlocal errors
        order = list(paths.items())
        for r in range(rounds):
            # Reading times spread from half to one and a half times `think`, fixed per
            # session and round (repeatable), so sessions do not click in step.
            await asyncio.sleep(think * (0.5 + ((offset * 7 + r * 3) % 11) / 10))
            name, path = order[(offset + r) % len(order)]
            # Patients were inserted first into a fresh schema: ids 1..N.
            patient = 1 + (offset * rounds + r) * 37 % patients
            started = time.perf_counter()
            answer = await client.get(path.format(patient=patient))
            times[name].append(time.perf_counter() - started)
            errors += answer.status_code != 200

    await asyncio.gather(*(staff(c, n) for n, c in enumerate(clients)))
    return times, errors


def _ms(values: list[float]) -> dict[str, float | None]:
    found = percentiles([v * 1000 for v in values], 50, 95)
    return {k: round(v, 1) if v is not None else None for k, v in found.items()}


async def bench_console(
    database_url: str,
    redis_url: str,
    patients: int = 500,
    days: int = 30,
    sessions: int = 20,
    rounds: int = 20,
    pages: tuple[str, ...] = ("today", "patient"),
    think: float = 0.0,
) -> dict[str, Any]:
    configure_logging("bench", "WARNING")
    async with throwaway_place(redis_url) as place:
        settings = _settings(database_url, redis_url, place.prefix)
        dbs = {
            name: Database(database_url, name, schema_prefix=place.prefix)
            for name in ("access", "scheduler", "feedback")
        }
        try:
            await migrate(dbs["access"], ACCESS_MIGRATIONS)
            for name in ("scheduler", "feedback"):
                await migrate(dbs[name], load_service(name).migrations)
            now = datetime.now(UTC)
            password = secrets.token_urlsafe(16)  # the throwaway accounts'
            cipher, _ = bench_cipher()
            clinic_id = await _seed(dbs, patients, days, sessions, now, password, cipher)
            paths = {name: PAGES[name].replace("{clinic}", str(clinic_id)) for name in pages}
            async with _running(settings, cipher) as console:
                clients = [await _session(console, n, password) for n in range(sessions)]
                try:
                    await _load(clients, paths, len(paths), 0.0, patients)  # warm-up
                    cpu_before, started = cpu_seconds([os.getpid()]), time.perf_counter()
                    times, errors = await _load(clients, paths, rounds, think, patients)
                    wall = time.perf_counter() - started
                    cpu = cpu_seconds([os.getpid()]) - cpu_before
                finally:
                    for client in clients:
                        await client.aclose()
            facts = await machine(dbs["scheduler"], place.redis)
        finally:
            for database in dbs.values():
                await database.drop_schema()
                await database.dispose()
    every = [t for page_times in times.values() for t in page_times]
    return {
        "benchmark": "console",
        "patients": patients,
        "days": days,
        "sessions": sessions,
        "think_seconds": think,
        "requests": len(every),
        "errors": errors,
        "pages": {name: _ms(page_times) for name, page_times in times.items()},
        "all": _ms(every),
        "requests_per_second": round(len(every) / wall, 1) if wall else None,
        "cpu_ms_per_request": round(cpu * 1000 / len(every), 1) if every else None,
        "machine": facts,
    }
