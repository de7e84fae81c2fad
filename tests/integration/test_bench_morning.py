"""`mmt bench morning` at small numbers: every process started, the checks hold and the
report has every figure (a smoke test: no timing asserted)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mmt import app
from tests.conftest import Backends

FIGURES = (
    "burst_s",
    "burst_per_second",
    "all_delivered_s",
    "replies_stored_s",
    "replies_answered_s",
    "settled_s",
)


def test_bench_morning(backends: Backends, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", backends.database_url)
    monkeypatch.setenv("REDIS_URL", backends.redis_url)
    from shared.settings import get_settings

    get_settings.cache_clear()
    plot = tmp_path / "morning.svg"
    try:
        result = CliRunner().invoke(
            app,
            [
                "bench",
                "morning",
                "--reminders",
                "300",
                "--replies",
                "0.1",
                "--reply-within",
                "1",
                "--callback-delay",
                "0.2",
                "--limit",
                "90",
                "--plot",
                str(plot),
                "--json",
            ],
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    figures: dict[str, Any] = json.loads(result.output.strip().splitlines()[-1])
    assert figures["process_ended"] is None
    assert figures["settled"] is True
    assert figures["checks"] == {
        "duplicates": 0,
        "lost": 0,
        "second_reminders_from_fallback": 0,
        "reply_errors": {},
        "callbacks_failed": 0,
    }
    assert figures["states"] == {"delivered": 300}
    assert figures["replies"] == 30 == figures["replies_stored"] == figures["replies_answered"]
    assert figures["reply_kinds"]["stop"] >= 1
    assert figures["reply_kinds"]["urgent"] >= 1
    for name in FIGURES:
        assert figures[name] > 0, name
    assert figures["settled_s"] == max(
        figures[name] for name in ("all_delivered_s", "replies_stored_s", "replies_answered_s")
    )
    for kind in ("sends", "receipts", "replies"):
        late = figures["lateness_s"][kind]
        assert 0 <= late["p50"] <= late["p99"], kind
    processes = ("scheduler_api", "feedback_api", "feedback_worker", "dispatcher_1", "dispatcher_2")
    assert all(figures["peak_rss_mb"][name] > 0 for name in (*processes, "fake_twilio", "bench"))
    assert figures["samples"] >= 1
    assert plot.read_text().lstrip().startswith("<?xml")
