"""The `mmt` command line: help everywhere, clear errors and exit codes."""

from __future__ import annotations

import sys

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
        ["staff"],
        ["staff", "create"],
        ["staff", "list"],
        ["staff", "disable"],
        ["staff", "reset-password"],
        ["console"],
        ["keys"],
        ["keys", "generate"],
        ["keys", "check"],
        ["content"],
        ["content", "import"],
        ["content", "export"],
        ["content", "check"],
        ["risk"],
        ["risk", "check"],
        ["risk", "import"],
        ["assessment"],
        ["assessment", "check"],
        ["assessment", "import"],
        ["calendar"],
        ["calendar", "set"],
        ["calendar", "clear"],
        ["calendar", "list"],
        ["study"],
        ["study", "check"],
        ["study", "import"],
        ["study", "list"],
        ["study", "close"],
        ["study", "clinics"],
        ["wechat"],
        ["wechat", "menu"],
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


@pytest.mark.parametrize(
    "command",
    [
        ["migrate"],
        ["doctor"],
        ["up"],
        ["serve", "content"],
        ["worker", "scheduler"],
        ["token", "list"],
        ["deadletters", "list"],
        ["healthcheck", "worker", "feedback"],
        ["bench", "dispatch"],
        ["chaos"],
    ],
)
@pytest.mark.parametrize("url", ["mysql://x", "postgresql+psycopg2://u:secret@127.0.0.1/db"])
def test_an_unsupported_database_url_is_one_line_in_every_command(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    url: str,
) -> None:
    from mmt.entry import main
    from shared.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(sys, "argv", ["mmt", *command])
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exited:
            main()  # the real entry point: `mmt` and `python -m mmt` both call it
    finally:
        get_settings.cache_clear()
    assert exited.value.code not in (0, None)
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "Traceback" not in output
    assert "secret" not in output
    [line] = [line for line in output.splitlines() if "not supported" in line]
    scheme = url.split("://")[0]
    assert f"DATABASE_URL: {scheme}:// is not supported; use postgresql+asyncpg://" in line
    assert "postgresql:// or postgres://" in line
    assert "sqlite+aiosqlite:///path" in line
    # Nothing else beyond doctor's heading: one line says it all.
    assert len([x for x in output.splitlines() if x.strip()]) <= 2


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres:secret@127.0.0.1:1/test", "postgresql://postgres@nohost.invalid/t"],
)
def test_a_database_that_does_not_answer_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    from mmt.entry import main
    from shared.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr(sys, "argv", ["mmt", "token", "list"])
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exited:
            main()
    finally:
        get_settings.cache_clear()
    assert exited.value.code == 1
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "Traceback" not in output
    assert "secret" not in output
    [line] = [line for line in output.splitlines() if line.strip()]
    assert line.startswith("error: cannot connect (")
    assert "DATABASE_URL and REDIS_URL" in line


def test_doctor_says_which_driver_a_bare_postgresql_url_runs_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.settings import get_settings

    # Unreachable on purpose: the driver line comes before any connection.
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1:1/db")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    try:
        result = runner.invoke(app, ["doctor"])
    finally:
        get_settings.cache_clear()
    assert (
        "ok    database driver: asyncpg (postgresql:// runs on postgresql+asyncpg://, "
        "the driver the suite is tested on)"
    ) in result.output
    assert result.exit_code == 1  # nothing answers on port 1
