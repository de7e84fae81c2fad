"""`mmt up` as a user runs it: three services answer, events cross the bus, Ctrl-C cleans up."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from shared.settings import SERVICES
from tests.conftest import Backends, drop_schemas, free_port

pytestmark = pytest.mark.e2e


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def _post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read())


def _wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout_s}s")


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_up_serves_all_three_relays_events_and_stops_cleanly(
    database: str,
    tmp_path: Path,
    backends: Backends,
    isolation: str,
) -> None:
    ports = {name: free_port() for name in SERVICES}
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({f"{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env["WORKER_HEARTBEAT_DIR"] = str(tmp_path / "run")
    env["BUS_CLAIM_IDLE_MS"] = "2000"
    if database == "postgresql":
        env["DATABASE_URL"] = backends.database_url
        env["DATABASE_SCHEMA_PREFIX"] = isolation
    else:
        env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/var/mmt.db"
    # REDIS_URL unset on purpose: `mmt up` must bring its own.
    up = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "up"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    processes: set[int] = set()
    try:
        started = time.monotonic()
        for name, port in ports.items():
            base = f"http://127.0.0.1:{port}"
            _wait_for(lambda base=base: _get(f"{base}/ready")[0] == 200, 60, f"{name} ready")
            assert _get(f"{base}/health") == (200, {"status": "ok"})
            status, schema = _get(f"{base}/schema/openapi.json")
            assert status == 200
            assert schema["info"]["title"] == f"MMT {name} service"
        assert time.monotonic() - started < 60
        processes = _descendants(up.pid)
        assert len(processes) >= 7  # redis + 3 APIs + 3 workers

        # One service's event, handled by the others, all through outbox, relay and streams.
        status, sent = _post(
            f"http://127.0.0.1:{ports['content']}/api/v1/bus-probes", {"note": "e2e"}
        )
        assert status == 202
        for name in ("scheduler", "feedback"):
            url = f"http://127.0.0.1:{ports[name]}/api/v1/bus-probes/{sent['probe_id']}"
            _wait_for(lambda url=url: _get(url)[0] == 200, 30, f"{name} received the probe")
            receipt = _get(url)[1]
            assert receipt["origin"] == "content"
            assert receipt["received_by"] == name
    finally:
        up.send_signal(signal.SIGINT)
        try:
            output, _ = up.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
            output, _ = up.communicate()
    assert up.returncode == 0, output[-3000:]
    assert "stopped" in output
    for name, port in ports.items():
        assert f"{name:<10} http://127.0.0.1:{port}" in output
    leftovers = [pid for pid in processes if _alive(pid)]
    assert leftovers == [], f"processes left behind: {leftovers}"
    if database == "postgresql":
        asyncio.run(drop_schemas(backends.database_url, isolation))
