"""The `mmt` command line: help everywhere, clear errors and exit codes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mmt import app

runner = CliRunner()


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["up"],
        ["migrate"],
        ["doctor"],
        ["serve"],
        ["worker"],
        ["healthcheck"],
        ["healthcheck", "api"],
        ["deadletters"],
        ["deadletters", "list"],
        ["deadletters", "replay"],
        ["token"],
        ["token", "create"],
        ["token", "list"],
        ["token", "revoke"],
        ["keys"],
        ["keys", "generate"],
        ["keys", "check"],
        ["content"],
        ["content", "import"],
        ["content", "export"],
        ["content", "check"],
        ["bench"],
        ["bench", "dispatch"],
        ["chaos"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


@pytest.mark.parametrize("command", [["serve", "billing"], ["worker", "x"], ["migrate", "y"]])
def test_unknown_service_is_exit_2_with_the_choices(command: list[str]) -> None:
    result = runner.invoke(app, command)
    assert result.exit_code == 2
    assert "unknown service" in result.output
    assert "content, scheduler, feedback" in result.output


def test_replay_needs_ids_or_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    result = runner.invoke(app, ["deadletters", "replay"])
    assert result.exit_code == 2
    assert "name dead-letter ids, or pass --all" in result.output


def test_worker_healthcheck_fails_without_a_heartbeat(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: object,
) -> None:
    from shared.settings import get_settings

    monkeypatch.setenv("WORKER_HEARTBEAT_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["healthcheck", "worker", "content"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "no heartbeat" in result.output
