"""`mmt serve` with API_PROCESSES=2: both processes answer on one port, /health and /ready
work, every request is audited, and /metrics counts the whole API whichever process
answers the scrape."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select

from shared.access.models import AuditEntry
from shared.access.tokens import Role, issue_token
from shared.db import Database
from shared.net import free_port
from tests.conftest import Backends

ROOT = Path(__file__).resolve().parents[2]
PATIENTS_LABEL = 'app_name="mmt_scheduler",method="GET",path="/api/v1/patients",status_code="200"'


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except OSError:
        return 0, b""


def _serving_children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if parent == pid and b"resource_tracker" not in cmdline:
            found.append(int(stat.parent.name))
    return found


def _requests_counted(metrics: bytes) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.decode().splitlines()
        if line.startswith("litestar_requests_total{") and PATIENTS_LABEL in line
    )


def _pids_counted(metrics_dir: Path) -> set[str]:
    """Processes that have counted a request: each writes its own counter_<pid>.db."""
    return {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}


async def test_two_processes_serve_one_port(
    backends: Backends,
    isolation: str,
    scheduler_db: Database,
    access_db: Database,
    secrets_env: dict[str, str],
    tmp_path: Path,
) -> None:
    token = (await issue_token(access_db, Role.ADMIN, label="processes")).token
    port = free_port()
    (tmp_path / "counter_1.db").write_bytes(b"stale")  # an earlier run's: must be removed
    env = {
        **os.environ,
        "DATABASE_URL": backends.database_url,
        "DATABASE_SCHEMA_PREFIX": isolation,
        "REDIS_URL": backends.redis_url,
        "BUS_PREFIX": isolation.rstrip("_"),
        "SCHEDULER_PORT": str(port),
        "API_PROCESSES": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "mmt", "serve", "scheduler"], env=env, cwd=ROOT
    )
    base = f"http://127.0.0.1:{port}"
    sent = 0
    try:
        for _ in range(300):
            if (await asyncio.to_thread(_get, f"{base}/health"))[0] == 200:
                break
            await asyncio.sleep(0.1)
        assert (await asyncio.to_thread(_get, f"{base}/ready"))[0] == 200
        assert len(_serving_children(server.pid)) == 2
        # Concurrent requests until both processes have answered some (the kernel
        # chooses which process accepts a connection).
        with ThreadPoolExecutor(16) as pool:
            for _ in range(20):
                statuses = list(
                    pool.map(lambda _: _get(f"{base}/api/v1/patients/", token), range(32))
                )
                assert statuses == [(200, b"[]")] * 32
                sent += 32
                if len(_pids_counted(tmp_path)) == 2:
                    break
        assert len(_pids_counted(tmp_path)) == 2
        async with access_db.sessions() as session:
            audited = await session.scalar(select(func.count()).select_from(AuditEntry))
        assert audited == sent  # each process's audit writer committed its own
        # Each scrape may land on either process; each must count every request.
        for _ in range(4):
            status, body = await asyncio.to_thread(_get, f"{base}/metrics")
            assert status == 200
            assert _requests_counted(body) == sent
    finally:
        server.send_signal(signal.SIGINT)
        await asyncio.to_thread(server.wait, 15)
    assert server.returncode == 0
