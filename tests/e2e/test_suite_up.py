"""`mmt up` as a user runs it: three services answer, events cross the bus, Ctrl-C cleans up."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

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


def _get(url: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=5
        ) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def _post(url: str, body: dict[str, Any], token: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read())


def _mmt(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "mmt", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _suite_env(tmp_path: Path) -> tuple[dict[str, int], dict[str, str]]:
    """Free ports for the three APIs; DATABASE_URL and REDIS_URL unset (tests choose)."""
    ports = {name: free_port() for name in SERVICES}
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({f"{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env["WORKER_HEARTBEAT_DIR"] = str(tmp_path / "run")
    env["CONSOLE_PORT"] = str(free_port())  # not 8000: runs side by side must not collide
    return ports, env


@contextmanager
def _running_up(
    env: dict[str, str], cwd: Path, *flags: str
) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`mmt up` as a user runs it, its output collected; Ctrl-C (SIGINT) at the end."""
    up = subprocess.Popen(
        [sys.executable, "-m", "mmt", "up", *flags],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert up.stdout is not None
    stdout = up.stdout
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")))
    reader.start()
    try:
        yield up, lines
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
        reader.join(timeout=10)
        stdout.close()


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
    ports, env = _suite_env(tmp_path)
    env["BUS_CLAIM_IDLE_MS"] = "2000"
    if database == "postgresql":
        env["DATABASE_URL"] = backends.database_url
        env["DATABASE_SCHEMA_PREFIX"] = isolation
    else:
        env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/var/mmt.db"
    # REDIS_URL unset on purpose: `mmt up` must bring its own.
    processes: set[int] = set()
    with _running_up(env, tmp_path) as (up, lines):
        started = time.monotonic()
        for name, port in ports.items():
            base = f"http://127.0.0.1:{port}"
            _wait_for(lambda base=base: _get(f"{base}/ready")[0] == 200, 60, f"{name} ready")
            assert _get(f"{base}/health") == (200, {"status": "ok"})
            status, schema = _get(f"{base}/schema/openapi.json")
            assert status == 200
            assert schema["info"]["title"] == f"MMT {name} service"
        console = f"http://127.0.0.1:{env['CONSOLE_PORT']}"
        _wait_for(lambda: _get(f"{console}/health")[0] == 200, 60, "console healthy")
        _wait_for(lambda: f"console    {console}" in "".join(lines), 10, "console listed")
        assert time.monotonic() - started < 60
        processes = _descendants(up.pid)
        assert len(processes) >= 8  # redis + 3 APIs + 3 workers + the console

        admin = _mmt(env, "token", "create", "--role", "admin", "--label", "e2e").splitlines()[0]
        url = f"http://127.0.0.1:{ports['content']}/api/v1/bus-probes"
        assert _get(url + "/x")[0] == 401  # the API is not open

        # One service's event, handled by the others, all through outbox, relay and streams.
        status, sent = _post(url, {"note": "e2e"}, admin)
        assert status == 202
        for name in ("scheduler", "feedback"):
            url = f"http://127.0.0.1:{ports[name]}/api/v1/bus-probes/{sent['probe_id']}"
            _wait_for(lambda url=url: _get(url, admin)[0] == 200, 30, f"{name} got the probe")
            receipt = _get(url, admin)[1]
            assert receipt["origin"] == "content"
            assert receipt["received_by"] == name

        # The first run published the starter curriculum, and the scheduler has it.
        tracks = _get(f"http://127.0.0.1:{ports['content']}/api/v1/tracks", admin)[1]
        assert {t["code"] for t in tracks} >= {"core", "maintenance"}
        assert "curriculum: published the starter tracks" in "".join(lines)

        # A coordinator's day: a clinic, a patient due now, the reminder on its way and done.
        api = f"http://127.0.0.1:{ports['scheduler']}/api/v1"
        status, yx = _post(
            f"{api}/clinics", {"code": "YX", "name": "Yuxi", "help_phone": "0877 2012345"}, admin
        )
        assert status == 201
        local_now = datetime.now(ZoneInfo("Asia/Shanghai"))
        status, patient = _post(
            f"{api}/patients",
            {
                "clinic_id": yx["id"],
                "clinic_number": "E2E-1",
                "display_name": "E.E.",
                "phone": "13800138000",
                "dose_time": local_now.strftime("%H:%M"),
                "quiet_start": "00:00",
                "quiet_end": "00:00",
                "consent": {"version": "v1", "given_at": local_now.isoformat()},
            },
            admin,
        )
        assert status == 201

        def delivered() -> bool:
            timeline = _get(f"{api}/patients/{patient['id']}/timeline", admin)[1]
            return any(
                e["type"] == "message" and e["detail"]["state"] == "delivered" for e in timeline
            )

        _wait_for(delivered, 30, "the dose reminder delivered by the console channel")

        # The operator's check of the same path, against the private Redis `up` started.
        [bus] = [line for line in lines if line.startswith("bus: ")]
        env["REDIS_URL"] = f"redis://{bus.rsplit(' ', 1)[1].strip()}/0"
        report = _mmt(env, "doctor", "--probe", "--token", admin)
        assert "bus probe -> feedback: received" in report
        assert report.rstrip().endswith("all good")
    output = "".join(lines)
    assert up.returncode == 0, output[-3000:]
    assert "stopped" in output
    for name, port in ports.items():
        assert f"{name:<10} http://127.0.0.1:{port}" in output
    leftovers = [pid for pid in processes if _alive(pid)]
    assert leftovers == [], f"processes left behind: {leftovers}"
    if database == "postgresql":  # (if the test failed before, `isolation` drops them)
        asyncio.run(drop_schemas(backends.database_url, isolation))


def test_sandbox_sends_through_the_real_adapters_and_fake_providers(tmp_path: Path) -> None:
    ports, env = _suite_env(tmp_path)
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/var/mmt.db"
    with _running_up(env, tmp_path, "--sandbox") as (up, lines):
        _wait_for(lambda: any(line.startswith("ready") for line in lines), 240, "the suite")
        [sandbox] = [line for line in lines if line.startswith("sandbox: ")]
        twilio, wechat = (url.rstrip(",") for url in sandbox.split() if url.startswith("http"))
        admin = _mmt(env, "token", "create", "--role", "admin").splitlines()[0]
        api = f"http://127.0.0.1:{ports['scheduler']}/api/v1"
        yx = _post(
            f"{api}/clinics", {"code": "YX", "name": "Yuxi", "help_phone": "0877 2012345"}, admin
        )[1]
        now = datetime.now(ZoneInfo("Asia/Shanghai"))
        common = {
            "clinic_id": yx["id"],
            "display_name": "S.B.",
            "quiet_start": "00:00",
            "quiet_end": "00:00",
            "dose_time": now.strftime("%H:%M"),
            "consent": {"version": "v1", "given_at": now.isoformat()},
        }
        by_wechat = _post(
            f"{api}/patients",
            {
                **common,
                "clinic_number": "W-1",
                "phone": "13800138000",
                "wechat_openid": "oAbCdEfGhIjKlMnOpQrStUvWxYz0",
                "channel_order": ["wechat", "sms"],
            },
            admin,
        )[1]
        by_sms = _post(
            f"{api}/patients", {**common, "clinic_number": "S-1", "phone": "13800138001"}, admin
        )[1]

        def state_of(patient: dict[str, Any]) -> tuple[str, str] | None:
            timeline = _get(f"{api}/patients/{patient['id']}/timeline", admin)[1]
            for entry in timeline:
                if entry["type"] == "message":
                    return entry["detail"]["state"], entry["detail"]["channel"]
            return None

        # SMS: Twilio's SDK to the fake, whose signed receipt marks it delivered.
        _wait_for(lambda: state_of(by_sms) == ("delivered", "sms"), 40, "SMS delivered")
        # WeChat: a template message (WeChat sends no receipts: it stays "sent").
        _wait_for(lambda: state_of(by_wechat) == ("sent", "wechat"), 40, "WeChat sent")
        assert _get(f"{twilio}/_fake/stats")[1]["accepted"] == {"+8613800138001": 1}
        assert _get(f"{wechat}/_fake/stats")[1]["accepted"] == {"oAbCdEfGhIjKlMnOpQrStUvWxYz0": 1}

        # A survey: feedback asks, the scheduler sends the question over the patient's SMS.
        runs = f"http://127.0.0.1:{ports['feedback']}/api/v1/clinics/{yx['id']}/surveys"
        body = {"patient_ids": [by_sms["id"]]}

        def survey_started() -> bool:  # once feedback has heard of the patient
            return _post(f"{runs}/yuxi_evaluation/runs", body, admin)[1]["started"] == 1

        _wait_for(survey_started, 30, "the survey started")

        def question_sent() -> bool:
            return _get(f"{twilio}/_fake/stats")[1]["accepted"] == {"+8613800138001": 2}

        _wait_for(question_sent, 40, "the first survey question sent")
    assert up.returncode == 0, "".join(lines)[-3000:]
