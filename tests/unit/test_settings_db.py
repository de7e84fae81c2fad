"""Settings from the environment and the per-service database layout (no I/O)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.feedback.settings import FeedbackSettings
from services.scheduler.settings import SchedulerSettings
from shared.channels.settings import CHANNEL_SETTINGS_CLASSES
from shared.crypto import IdentifierSettings
from shared.db import Database
from shared.lesson_links import LessonLinkSettings
from shared.settings import SETTINGS_CLASSES, DatabaseSettings, ServiceSettings, Settings
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
