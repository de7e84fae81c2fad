"""`mmt bench ...` commands run and print sane figures (smoke tests: no timing asserted)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from mmt import app
from tests.conftest import Backends


def _bench(backends: Backends, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, Any]:
    """Run `mmt bench ARGS`; the last line printed must be one JSON object."""
    monkeypatch.setenv("DATABASE_URL", backends.database_url)
    monkeypatch.setenv("REDIS_URL", backends.redis_url)
    from shared.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["bench", *args])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    figures: dict[str, Any] = json.loads(result.output.strip().splitlines()[-1])
    assert figures["benchmark"] == args[0]
    assert set(figures["machine"]) >= {"cores", "python", "redis", "postgresql"}
    return figures


def test_bench_dispatch(backends: Backends, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = _bench(backends, monkeypatch, "dispatch", "--reminders", "120")
    assert figures["states"] == {"sent": 120}  # every reminder handed to the fake Twilio
    assert figures["dead_letters"] == 0
    assert figures["provider_accepted"] == 120
    assert figures["provider_duplicates"] == 0
    assert figures["per_second"] > 0
    assert figures["lateness_s"]["p50"] <= figures["lateness_s"]["p99"]
    assert figures["raw_pipeline"]["sent"] == 120
    assert figures["raw_redis_streams_per_second"] > 0
    assert figures["ratio_to_raw_pipeline"] > 0
    assert figures["peak_rss_mb"]["worker"] > 0
    assert figures["peak_rss_mb"]["fake_twilio"] > 0


def test_bench_dispatch_with_two_workers(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = _bench(
        backends, monkeypatch, "dispatch", "--reminders", "60", "--workers", "2", "--no-yardsticks"
    )
    assert figures["states"] == {"sent": 60}
    assert figures["provider_duplicates"] == 0  # replicas never send one twice
    assert len(figures["peak_rss_mb"]["more_workers"]) == 1


def test_bench_baseline(backends: Backends, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = _bench(backends, monkeypatch, "baseline", "--reminders", "40")
    assert figures["apscheduler"]["provider_accepted"] == 40
    assert figures["apscheduler"]["sent"] == 40
    assert figures["apscheduler"]["failed"] == {}
    assert figures["apscheduler"]["per_second"] > 0
    assert figures["suite_per_second"] > 0
    assert figures["ratio_suite_to_baseline"] > 0


def test_bench_planner(backends: Backends, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = _bench(backends, monkeypatch, "planner", "--patients", "300")
    assert figures["planned"] == figures["occurrences"] > 0
    assert figures["replanned"] == 0  # planning is idempotent
    assert figures["peak_rss_mb"]["planner"] > 0


def test_bench_api(backends: Backends, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = _bench(
        backends,
        monkeypatch,
        "api",
        *("--rps", "20", "--seconds", "1", "--patients", "30", "--processes", "2"),
        *("--warmup", "0.5"),
    )
    assert figures["requests"] == 20
    assert figures["warmup"]["requests"] == 10
    assert figures["warmup"]["errors"] == {}
    assert figures["warmup"]["latency_ms"]["p50"] is not None
    assert figures["errors"] == {}
    assert figures["latency_ms"]["p50"] <= figures["latency_ms"]["p99"]
    assert figures["processes"] == 2
    assert len(figures["peak_rss_mb"]["api_each"]) == 2
    assert figures["cpu_ms_per_request"]["api"] > 0


def test_bench_api_receipts(backends: Backends, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = _bench(
        backends,
        monkeypatch,
        "api",
        *("--mix", "receipts", "--rps", "20", "--seconds", "1", "--warmup", "0.5"),
    )
    assert figures["mix"] == "receipts"
    assert figures["errors"] == {}
    assert figures["warmup"]["errors"] == {}
    assert list(figures["latency_ms_by_endpoint"]) == ["receipt"]
    # Every callback, the 20 warming ones included, was signed right, accepted and applied
    # by the worker's receipt consumer, which says when.
    assert figures["messages_delivered"] == 20 + figures["warmup"]["requests"] + 20
    assert figures["receipts_applied_s_after_load"] is not None
    assert figures["peak_rss_mb"]["receipts_worker"] > 0


def test_bench_api_replies(backends: Backends, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = _bench(
        backends,
        monkeypatch,
        "api",
        *("--mix", "replies", "--rps", "20", "--seconds", "1", "--warmup", "0.5"),
        *("--patients", "30"),
    )
    assert (figures["mix"], figures["path"]) == ("replies", "enqueued, worker")
    assert figures["errors"] == {}
    assert figures["warmup"]["errors"] == {}
    # Every signed text, the 20 warming ones included, was accepted, then stored and
    # answered by the feedback worker, which the bench timed.
    assert figures["replies_sent"] == 20 + figures["warmup"]["requests"] + 20
    assert figures["replies_stored"] == figures["replies_answered"] == figures["replies_sent"]
    assert figures["stored_and_answered_s_after_load"] is not None
    assert figures["peak_rss_mb"]["worker"] > 0


def test_bench_api_replies_answered_through_a_slow_provider(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = _bench(
        backends,
        monkeypatch,
        "api",
        *("--mix", "replies", "--rps", "20", "--seconds", "1", "--warmup", "0"),
        *("--patients", "30", "--answer-latency-ms", "50"),
    )
    assert figures["answers"].startswith("fake Twilio, http://127.0.0.1:")
    assert figures["errors"] == {}
    # Each answer was a message the fake Twilio accepted (50 ms later): "sent" beside it.
    assert figures["replies_stored"] == figures["replies_answered"] == figures["replies_sent"]
    assert figures["stored_and_answered_s_after_load"] is not None


def test_bench_api_refuses_an_unknown_mix() -> None:
    result = CliRunner().invoke(app, ["bench", "api", "--mix", "writes"])
    assert result.exit_code == 2
    assert "--mix is one of reads, receipts, replies, not 'writes'" in result.output


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


def test_bench_channels(backends: Backends, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = _bench(backends, monkeypatch, "channels", "--sends", "40", "--in-flight", "4")
    lanes = {**figures["adapters"], **figures["clients"]}
    assert set(figures["adapters"]) == {
        "twilio_sms",
        "wechat",
        "webhook",
        "aliyun_sms",
        "tencent_sms",
    }
    assert set(figures["clients"]) == {"aiohttp", "httpx", "twilio_sdk_async"}
    for name, lane in lanes.items():
        assert lane["errors"] == {}, name
        assert lane["provider_accepted"] == 40, name  # every timed send reached its fake
        assert lane["provider_duplicates"] == 0, name
        assert lane["per_second"] > 0, name
        assert lane["latency_ms"]["p50"] <= lane["latency_ms"]["p99"], name


@pytest.mark.parametrize("channel", ["wechat", "aliyun", "tencent"])
def test_bench_dispatch_over_another_channel(
    backends: Backends, monkeypatch: pytest.MonkeyPatch, channel: str
) -> None:
    args = ["--reminders", "80", "--channel", channel, "--no-yardsticks"]
    figures = _bench(backends, monkeypatch, "dispatch", *args)
    assert figures["channel"] == channel
    assert figures["states"] == {"sent": 80}  # every reminder went through that adapter
    assert figures["provider_accepted"] == 80
    assert figures["provider_duplicates"] == 0
    assert figures["dead_letters"] == 0
    assert figures["raw_pipeline"] is None
    assert figures["peak_rss_mb"][f"fake_{channel}"] > 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--channel", "wechat"], "--no-yardsticks"),  # the yardsticks are Twilio's
        (["--channel", "fax", "--no-yardsticks"], "one of sms, wechat"),
    ],
)
def test_bench_dispatch_refuses_what_it_cannot_measure(
    backends: Backends, monkeypatch: pytest.MonkeyPatch, args: list[str], says: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", backends.database_url)
    monkeypatch.setenv("REDIS_URL", backends.redis_url)
    result = CliRunner().invoke(app, ["bench", "dispatch", "--reminders", "10", *args])
    assert result.exit_code == 2
    assert says in result.output


def test_bench_console(backends: Backends, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ("--patients", "30", "--days", "8", "--sessions", "3", "--rounds", "4", "--think", "0")
    pages = ("--pages", "today,patient,needs,struggling")
    figures = _bench(backends, monkeypatch, "console", *args, *pages)
    assert figures["errors"] == 0  # every page answered 200 under its session
    assert figures["requests"] == 3 * 4
    assert set(figures["pages"]) == {"today", "patient", "needs", "struggling"}
    for name, page in figures["pages"].items():
        assert 0 < page["p50"] <= page["p95"], name


def test_bench_console_refuses_an_unknown_page() -> None:
    result = CliRunner().invoke(app, ["bench", "console", "--pages", "today,calendar"])
    assert result.exit_code == 2
    assert "--pages" in result.output
