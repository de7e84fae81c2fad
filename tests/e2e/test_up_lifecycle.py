"""`mmt up` starting and stopping as a user sees it: a dependency that does not answer
stops it at once, naming it; Ctrl-C at the terminal stops everything without a traceback
or an ERROR line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_suite_up import _alive, _descendants, _suite_env

pytestmark = pytest.mark.e2e


def _record(line: str) -> dict[str, Any]:
    try:
        record: dict[str, Any] = json.loads(line)
    except ValueError:  # two processes' lines run together: judge it by its words
        return {"event": line, "level": "error" if '"level": "error"' in line else "?"}
    return record


def test_an_unreachable_redis_stops_up_at_once_naming_it(tmp_path: Path) -> None:
    _ports, env = _suite_env(tmp_path)
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/var/mmt.db"
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "mmt", "up"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert time.monotonic() - started < 30
    assert result.returncode != 0
    output = (result.stdout + result.stderr).strip()
    assert "Traceback" not in output
    assert output.splitlines() == [
        "error: Redis unreachable: 127.0.0.1:1 from REDIS_URL (ConnectionError); start it or "
        "correct REDIS_URL, or unset REDIS_URL for a private one"
    ]


def test_ctrl_c_stops_every_process_without_a_traceback_or_an_error(tmp_path: Path) -> None:
    _ports, env = _suite_env(tmp_path)
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/var/mmt.db"
    # REDIS_URL unset: `mmt up` starts its private Redis, which Ctrl-C must not pull out
    # from under the workers. Its own session, as a shell gives a foreground job: Ctrl-C
    # is SIGINT to the whole process group, `mmt up` and every child it started.
    up = subprocess.Popen(
        [sys.executable, "-m", "mmt", "up"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    assert up.stdout is not None
    stdout = up.stdout
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")))
    reader.start()
    processes: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while not any(line.startswith("ready") for line in lines):
            assert up.poll() is None, "".join(lines)[-3000:]
            assert time.monotonic() < deadline, "not ready in 120 s:\n" + "".join(lines)[-3000:]
            time.sleep(0.2)
        processes = _descendants(up.pid)
        assert len(processes) >= 7  # redis + 3 APIs + 3 workers
        os.killpg(up.pid, signal.SIGINT)  # Ctrl-C at the terminal
        up.wait(timeout=60)
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        reader.join(timeout=10)
        stdout.close()
    output = "".join(lines)
    assert up.returncode == 0, output[-3000:]
    assert output.rstrip().endswith("stopped")
    assert "Traceback" not in output
    assert '"level": "error"' not in output
    records = [_record(line) for line in lines if line.startswith("{")]
    assert {r["event"] for r in records} >= {"worker.started", "worker.stopped"}
    errors = [r for r in records if r["level"] in ("error", "critical")]
    assert errors == []
    # The workers' last ticks still had their bus: it is stopped after them.
    assert [r for r in records if r["event"] == "bus.redis_unavailable"] == []
    # A private Redis starts empty by design: a replay there is no warning.
    replays = [r for r in records if r["event"] == "outbox.replay"]
    assert all(r["level"] == "info" for r in replays), replays
    leftovers = [pid for pid in processes if _alive(pid)]
    assert leftovers == [], f"processes left behind: {leftovers}"
