"""Fixtures shared by the feedback tests: its database, a clinic with an enrolled patient
who was just sent a lesson, the signed-webhook settings, and an app client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from mmt.registry import load_service
from shared.access.clinics import ClinicIn, create_clinic
from shared.crypto import IdentifierCipher, IdentifierSettings
from shared.db import Database
from shared.messages import LessonSent, PatientEnrolled
from shared.migrate import migrate
from shared.settings import Settings, get_settings
from tests.conftest import Backends, build_service_app
from tests.integration.inboundutil import Replies
from tests.integration.test_feedback_inbound import BASE, PHONE, TOKEN, Client, handle


@pytest.fixture(params=["postgresql", "sqlite"])
async def feedback_db_either(
    request: pytest.FixtureRequest, backends: Backends, isolation: str, tmp_path: Path
) -> AsyncIterator[Database]:
    """Feedback's schema on each database the suite runs on, in turn."""
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path}/feedback.db", "feedback")
    else:
        database = Database(backends.database_url, "feedback", schema_prefix=isolation)
    await migrate(database, load_service("feedback").migrations)
    yield database
    if not database.is_sqlite:
        await database.drop_schema()
    await database.dispose()


@pytest.fixture
async def feedback_db(backends: Backends, isolation: str) -> AsyncIterator[Database]:
    db = Database(backends.database_url, "feedback", schema_prefix=isolation, pool_size=5)
    await migrate(db, load_service("feedback").migrations)
    yield db
    await db.drop_schema()
    await db.dispose()


@pytest.fixture
def webhook_env(monkeypatch: pytest.MonkeyPatch, secrets_env: dict[str, str]) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    monkeypatch.setenv("FEEDBACK_URGENT_WORDS_EXTRA", "跳河, jump off")


@pytest.fixture
async def world(feedback_db: Database, access_db: Database, webhook_env: None) -> tuple[int, int]:
    """A clinic with one enrolled patient (id 7, English) who was just sent a lesson."""
    clinic = await create_clinic(
        access_db, ClinicIn(code="YX", name="Yuxi", help_phone="0877 2012345")
    )
    cipher = IdentifierCipher.from_settings(IdentifierSettings())
    await handle(
        feedback_db,
        PatientEnrolled(
            patient_id=7,
            clinic_id=clinic.id,
            phone_hash=cipher.lookup_hash(PHONE),
            openid_hash=cipher.lookup_hash("o" + "w" * 27),
            language="en",
            study_arm="intervention",
        ),
        LessonSent(
            message_id="m1",
            patient_id=7,
            clinic_id=clinic.id,
            track="core",
            lesson_key="why-daily",
            version=1,
        ),
    )
    return clinic.id, 7


@pytest.fixture
async def client(world: tuple[int, int], app_settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=build_service_app("feedback", app_settings)) as test_client:
        yield test_client


@pytest.fixture
def database_env(
    monkeypatch: pytest.MonkeyPatch, backends: Backends, isolation: str
) -> Iterator[None]:
    """The test's database and schema prefix in the environment, for `mmt` commands run
    in-process (they read the settings once, hence the cache cleared on both sides)."""
    monkeypatch.setenv("DATABASE_URL", backends.database_url)
    monkeypatch.setenv("DATABASE_SCHEMA_PREFIX", isolation)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
async def replies(
    redis: Redis, isolation: str, feedback_db: Database, access_db: Database
) -> AsyncIterator[Replies]:
    """The feedback worker's handling of patients' messages, answering on console channels."""
    handled = Replies(redis, isolation, feedback_db, access_db, configured=False)
    yield handled
    await handled.aclose()
