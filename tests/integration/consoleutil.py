"""A world for the console's tests: clinics YX and KM, a coordinator of YX with a staff
account, patients enrolled through the scheduler's API, needs received by feedback, and
the real scheduler and feedback apps behind the console's HTTP client, every call recorded."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.console.app import create_app
from services.console.settings import ConsoleSettings
from services.feedback.grammar import Grammar
from services.feedback.inbound import Inbound, Receiver
from shared.db import Database
from shared.messages import LessonSent, PatientEnrolled
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.schedutil import clinic
from tests.integration.test_feedback_inbound import handle
from tests.integration.test_staff import PASSWORD as PASSWORD  # re-exported for the tests
from tests.integration.test_staff import coordinator

LOGIN = "li.na"
SCRIPT_NEED = "我想死<script>alert(1)</script>"
PATIENTS = (("YX-001", "张伟", "07:00"), ("YX-002", "王芳", "08:30"))
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


class Clock:
    """The console's clock, moved by tests (sessions' idle and absolute expiry)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


class Services(httpx.AsyncBaseTransport):
    """The services' apps by host name, and every request the console made."""

    def __init__(self, apps: dict[str, Litestar]) -> None:
        self.routes = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}
        self.seen: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.host}{request.url.raw_path.decode()}")
        return await self.routes[request.url.host].handle_async_request(request)


def client_of(app: Litestar, portal: BlockingPortal) -> AsyncTestClient[Litestar]:
    """A test client running `app` on the world's one event loop: the console calls the
    services' apps in process, and their database pools belong to the loop they started on."""
    client: AsyncTestClient[Litestar] = AsyncTestClient(app=app)
    client.blocking_portal = portal
    return client


@dataclass
class World:
    yx: int
    km: int
    patient_ids: dict[str, int]
    services: Services
    clock: Clock
    console: Litestar
    settings: ConsoleSettings
    portal: BlockingPortal
    extra: dict[str, object] = field(default_factory=dict)


async def _enrol(scheduler: AsyncTestClient[Litestar], clinic_id: int) -> dict[str, int]:
    ids = {}
    for number, name, dose_time in PATIENTS:
        made = await scheduler.post(
            "/api/v1/patients",
            json={
                "clinic_id": clinic_id,
                "clinic_number": number,
                "display_name": name,
                "phone": f"1390013{len(ids):04d}",
                "dose_time": dose_time,
                "consent": {"version": "2026-01", "given_at": "2026-11-20T09:00:00+08:00"},
            },
        )
        assert made.status_code == 201, made.text
        ids[number] = made.json()["id"]
    return ids


async def _needs(feedback_db: Database, access_db: Database, clinic_id: int, pid: int) -> None:
    await handle(
        feedback_db,
        PatientEnrolled(
            patient_id=pid,
            clinic_id=clinic_id,
            phone_hash="phone-1",
            openid_hash=None,
            language="zh-CN",
            study_arm=None,
        ),
        LessonSent(
            message_id="m1",
            patient_id=pid,
            clinic_id=clinic_id,
            track="core",
            lesson_key="why-daily",
            version=1,
        ),
    )
    receiver = Receiver(feedback_db, access_db, Grammar())
    send = {"channel": "sms", "sender_hash": "phone-1"}
    await receiver.receive(Inbound(provider_id="n-1", text="我没钱交房租", **send))
    await receiver.receive(Inbound(provider_id="n-2", text=SCRIPT_NEED, **send))


@asynccontextmanager
async def console_world(
    app_settings: Settings,
    access_db: Database,
    feedback_db: Database,
    make_token: TokenFactory,
    console_settings: ConsoleSettings | None = None,
) -> AsyncIterator[World]:
    yx, km = await clinic(access_db, "YX"), await clinic(access_db, "KM")
    await coordinator(access_db, LOGIN)
    admin = await make_token("admin")
    scheduler_app = build_service_app("scheduler", app_settings)
    feedback_app = build_service_app("feedback", app_settings)
    content_app = build_service_app("content", app_settings)  # its schema: content_db
    settings = console_settings or ConsoleSettings(
        console_scheduler_base_url="http://scheduler",
        console_feedback_base_url="http://feedback",
        console_content_base_url="http://content",
    )
    services = Services(
        {"scheduler": scheduler_app, "feedback": feedback_app, "content": content_app}
    )
    clock = Clock()
    # No access_db passed: the console opens its own on the world's loop.
    console = create_app(
        settings=app_settings, console_settings=settings, transport=services, clock=clock
    )
    with start_blocking_portal() as portal:
        async with (
            client_of(scheduler_app, portal) as scheduler,
            client_of(feedback_app, portal),
            client_of(content_app, portal),
        ):
            scheduler.headers["Authorization"] = f"Bearer {admin}"
            ids = await _enrol(scheduler, yx)
            await _needs(feedback_db, access_db, yx, ids["YX-001"])
            yield World(yx, km, ids, services, clock, console, settings, portal)
