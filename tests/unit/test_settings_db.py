"""Settings from the environment and the per-service database layout (no I/O)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.console.settings import ConsoleSettings
from services.content.training.settings import TrainingSettings
from services.feedback.settings import FeedbackSettings
from services.scheduler.settings import SchedulerSettings
from shared.channels.settings import CHANNEL_SETTINGS_CLASSES
from shared.crypto import IdentifierSettings
from shared.db import Database
from shared.lesson_links import LessonLinkSettings
from shared.settings import (
    SETTINGS_CLASSES,
    DatabaseSettings,
    ServiceSettings,
    Settings,
    database_driver_note,
)
from shared.stigma import StigmaSettings


def test_defaults_are_embedded_and_ports_are_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "CONTENT_PORT", "SCHEDULER_PORT", "FEEDBACK_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.database.database_url == "sqlite+aiosqlite:///./var/mmt.db"
    assert settings.bus.redis_url is None
    assert [settings.service.port(s) for s in ("content", "scheduler", "feedback")] == [
        8001,
        8002,
        8003,
    ]


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_PORT", "9002")
    monkeypatch.setenv("BUS_MAX_DELIVERIES", "7")
    settings = Settings()
    assert settings.service.port("scheduler") == 9002
    assert settings.bus.bus_max_deliveries == 7


def test_bad_values_are_refused_with_the_field_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUS_MAX_DELIVERIES", "0")
    with pytest.raises(ValidationError, match="bus_max_deliveries"):
        Settings()
    monkeypatch.setenv("CONTENT_PORT", "not-a-port")
    with pytest.raises(ValidationError, match="content_port"):
        ServiceSettings()


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for cls in (
        *SETTINGS_CLASSES,
        IdentifierSettings,
        SchedulerSettings,
        LessonLinkSettings,
        StigmaSettings,
        *CHANNEL_SETTINGS_CLASSES,
        FeedbackSettings,
        ConsoleSettings,
        TrainingSettings,
    ):
        for name, field in cls.model_fields.items():
            assert f"`{name.upper()}`" in readme, f"{name.upper()} missing from README"
            assert field.description, f"{name} has no description"


def test_sqlite_gives_each_service_its_own_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/var/mmt.db"
    content = Database(url, "content")
    feedback = Database(url, "feedback")
    assert content.url.database == f"{tmp_path}/var/mmt.content.db"
    assert feedback.url.database == f"{tmp_path}/var/mmt.feedback.db"
    assert content.schema is None
    assert (tmp_path / "var").is_dir()


def test_postgres_gives_each_service_a_schema() -> None:
    url = "postgresql+asyncpg://u@127.0.0.1:1/db"
    assert Database(url, "scheduler").schema == "scheduler"
    assert Database(url, "scheduler", schema_prefix="t1_").schema == "t1_scheduler"


@pytest.mark.parametrize("prefix", ['x"; drop schema', "UPPER", "a-b"])
def test_schema_prefix_must_be_a_plain_identifier(prefix: str) -> None:
    with pytest.raises(ValueError, match="DATABASE_SCHEMA_PREFIX"):
        Database("postgresql+asyncpg://u@127.0.0.1:1/db", "content", schema_prefix=prefix)


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ValueError, match="file path"):
        Database.from_settings(DatabaseSettings(database_url="sqlite+aiosqlite://"), "content")


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u@127.0.0.1:5432/db", "postgresql+asyncpg://u@127.0.0.1:5432/db"),
        ("postgres://u:pw@127.0.0.1/db", "postgresql+asyncpg://u:pw@127.0.0.1/db"),
        ("postgresql+asyncpg://u@127.0.0.1/db", "postgresql+asyncpg://u@127.0.0.1/db"),
        ("sqlite:///{tmp}/x.db", "sqlite+aiosqlite:///{tmp}/x.db"),
        ("sqlite+aiosqlite:///{tmp}/x.db", "sqlite+aiosqlite:///{tmp}/x.db"),
    ],
)
def test_bare_schemes_run_on_the_suites_drivers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, given: str, used: str
) -> None:
    # A bare postgresql:// would get whichever async driver is installed (psycopg here).
    given, used = given.format(tmp=tmp_path), used.format(tmp=tmp_path)
    monkeypatch.setenv("DATABASE_URL", given)
    assert DatabaseSettings().database_url == used
    assert Database(given, "scheduler").engine.dialect.driver in ("asyncpg", "aiosqlite")


@pytest.mark.parametrize(
    "given",
    ["mysql://x", "postgresql+psycopg2://u:secret@h/db", "postgresql+psycopg://u@h/db", "u@h/db"],
)
def test_other_schemes_are_refused_naming_the_accepted_ones(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    with pytest.raises(ValidationError) as caught:
        DatabaseSettings()
    [error] = caught.value.errors()
    assert error["loc"] == ("database_url",)
    assert (
        "is not supported; use postgresql+asyncpg://, postgresql:// or postgres://"
        in (error["msg"])
    )
    assert "sqlite+aiosqlite://" in error["msg"]
    assert "secret" not in error["msg"]
    with pytest.raises(ValueError, match="is not supported"):
        Database(given, "content")


def test_doctor_is_told_what_a_bare_scheme_became() -> None:
    assert database_driver_note("postgresql://u@h/db") == (
        "postgresql:// runs on postgresql+asyncpg://, the driver the suite is tested on"
    )
    assert database_driver_note("postgresql+asyncpg://u@h/db") is None
    assert database_driver_note("mysql://x") is None
