"""`mmt bench dispatch` runs and prints sane figures (a smoke test: no timing asserted)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from shared.cli import app
from tests.conftest import Backends


def test_bench_dispatch_prints_one_json_line_of_figures(
    backends: Backends,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", backends.database_url)
    monkeypatch.setenv("REDIS_URL", backends.redis_url)
    from shared.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["bench", "dispatch", "--reminders", "120"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["benchmark"] == "dispatch"
    assert figures["states"] == {"sent": 120}  # every reminder handed to the fake Twilio
    assert figures["provider_accepted"] == 120
    assert figures["provider_duplicates"] == 0
    assert figures["per_second"] > 0
    assert figures["lateness_s"]["p50"] <= figures["lateness_s"]["p99"]
    assert figures["raw_pipeline"]["sent"] == 120
    assert figures["raw_redis_streams_per_second"] > 0
    assert figures["ratio_to_raw_pipeline"] > 0
    assert figures["peak_rss_mb"]["worker"] > 0
    assert figures["peak_rss_mb"]["fake_twilio"] > 0
    assert set(figures["machine"]) >= {"cores", "python", "redis", "postgresql"}


def test_bench_refuses_without_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///./var/x.db")
    from shared.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["bench", "dispatch"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "postgresql" in result.output
