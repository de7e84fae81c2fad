"""`mmt healthcheck`: the container probes' answers, and their cheap path."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmt.healthcheck import run
from shared.settings import get_settings


@pytest.fixture
def heartbeat_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKER_HEARTBEAT_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_a_fresh_heartbeat_is_healthy(heartbeat_dir: Path) -> None:
    (heartbeat_dir / "scheduler-worker.alive").touch()
    assert run(["worker", "scheduler"]) == 0


def test_a_stale_or_missing_heartbeat_is_not(
    heartbeat_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["worker", "feedback"]) == 1
    assert "no heartbeat" in capsys.readouterr().err
    beat = heartbeat_dir / "feedback-worker.alive"
    beat.touch()
    old = time.time() - 120
    os.utime(beat, (old, old))
    assert run(["worker", "feedback"]) == 1
    assert "last heartbeat 120s ago" in capsys.readouterr().err
    assert run(["worker", "feedback", "--max-age", "300"]) == 0


def test_an_api_that_does_not_answer_is_not_ready(
    heartbeat_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.net import free_port

    monkeypatch.setenv("CONTENT_PORT", str(free_port()))
    get_settings.cache_clear()
    assert run(["api", "content"]) == 1
    assert "content: not ready" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["worker", "billing"], "unknown service 'billing'"),
        (["api"], "usage: mmt healthcheck"),
        (["worker", "scheduler", "--max-age", "soon"], "usage: mmt healthcheck"),
    ],
)
def test_a_wrong_probe_command_exits_2_saying_why(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    assert said in capsys.readouterr().err


def test_the_probe_does_not_import_the_command_line(tmp_path: Path) -> None:
    # A probe runs every few seconds in every container: the full CLI costs 2.4 s of CPU.
    (tmp_path / "scheduler-worker.alive").touch()
    script = (
        "import sys\n"
        "sys.argv = ['mmt', 'healthcheck', 'worker', 'scheduler']\n"
        "import mmt.entry\n"
        "try:\n"
        "    mmt.entry.main()\n"
        "except SystemExit as done:\n"
        "    print(done.code, 'mmt.main' in sys.modules, 'litestar' in sys.modules)\n"
    )
    env = {**os.environ, "WORKER_HEARTBEAT_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["0", "False", "False"]
