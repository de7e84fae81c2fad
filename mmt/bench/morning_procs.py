"""The processes of `mmt bench morning`, each started as deployed and always stopped.

Two scheduler workers (`python -m mmt.bench.worker`, dispatching, applying receipts and
running the missing-receipt fallback), the scheduler API (`mmt serve scheduler`, which
takes the status callbacks), the feedback API (`mmt serve feedback`, which takes patients'
texts) and the feedback worker (`mmt worker feedback`). The fake Twilio is started by
`mmt.bench.common`; its callbacks go to the scheduler API, its answers' sends come from the
feedback worker (or the feedback API's TwiML, whichever path the service takes).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

from mmt.bench.common import ROOT, TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN, peak_rss_mb
from shared.net import free_port, wait_for_port

START_LIMIT_S = 300.0  # imports on a busy 2-core machine take a while (120 s was not enough)


@dataclass(frozen=True)
class Backends:
    database_url: str
    redis_url: str
    prefix: str  # the throwaway schemas' prefix ("bench1a2b3c4d_")
    keys: dict[str, str]  # identifier keys: every process reads the same phones


@dataclass
class Fleet:
    """The running processes by name; `stop` returns each one's peak memory (MB)."""

    scheduler_url: str = ""
    feedback_url: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    heartbeats: tempfile.TemporaryDirectory[str] = field(
        default_factory=lambda: tempfile.TemporaryDirectory(prefix="mmt-morning-")
    )

    def dead(self) -> str | None:
        """A process that ended on its own, with its exit code ("feedback_api exited 1")."""
        return next(
            (
                f"{name} exited {p.returncode}"
                for name, p in self.processes.items()
                if p.poll() is not None
            ),
            None,
        )

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    def stop(self) -> tuple[dict[str, float | None], int]:
        """Stop every process; their peak memory, and the workers' fallbacks summed."""
        peaks: dict[str, float | None] = {}
        fallbacks = 0
        for name, process in self.processes.items():
            if not name.startswith("dispatcher"):
                peaks[name] = peak_rss_mb(process.pid)  # read before it ends: /proc goes
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                out, _ = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                out, _ = process.communicate()
            if name.startswith("dispatcher"):
                report = _last_json(out)
                peaks[name] = report.get("peak_rss_mb")
                fallbacks += int(report.get("fallbacks", 0))
        self.heartbeats.cleanup()
        return peaks, fallbacks


def _last_json(out: bytes | None) -> dict[str, Any]:
    lines = [line for line in (out or b"").decode(errors="replace").splitlines() if line]
    try:
        found: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}
    return found


def _env(backends: Backends, fleet: Fleet, provider_url: str) -> dict[str, str]:
    # Only the scheduler's sends ask for receipts (the dispatchers are given its URL):
    # answers asking too would bring receipts no scheduler message matches, kept waiting.
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PUBLIC_BASE_URL", "SCHEDULER_PUBLIC_URL")
    }
    return {
        **inherited,
        **backends.keys,
        "DATABASE_URL": backends.database_url,
        "DATABASE_SCHEMA_PREFIX": backends.prefix,
        "REDIS_URL": backends.redis_url,
        "BUS_PREFIX": backends.prefix.rstrip("_"),
        "SERVICE_HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "WORKER_HEARTBEAT_DIR": fleet.heartbeats.name,
        # Twilio signs callbacks and texts with the account's token over our public URLs.
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_FROM_NUMBER": TWILIO_FROM,
        "TWILIO_API_BASE_URL": provider_url,
        "TWILIO_RATE": "100000/second",  # the carrier's pace is not what is measured
        "CHANNEL_SMS": "twilio",
        "FEEDBACK_PUBLIC_URL": fleet.feedback_url,
    }


async def start_fleet(
    backends: Backends, provider_url: str, workers: int, fallback_wait_s: float
) -> Fleet:
    """The APIs (once they listen), the feedback worker and the dispatchers."""
    ports = {"scheduler": free_port(), "feedback": free_port()}
    fleet = Fleet(
        scheduler_url=f"http://127.0.0.1:{ports['scheduler']}",
        feedback_url=f"http://127.0.0.1:{ports['feedback']}",
    )
    env = _env(backends, fleet, provider_url)
    try:
        for service, port in ports.items():
            own = {f"{service.upper()}_PORT": str(port)}
            if service == "scheduler":  # where the fake posts status callbacks
                own["SCHEDULER_PUBLIC_URL"] = fleet.scheduler_url
            fleet.processes[f"{service}_api"] = _start(["-m", "mmt", "serve", service], env | own)
        fleet.processes["feedback_worker"] = _start(["-m", "mmt", "worker", "feedback"], env)
        argv = [backends.database_url, backends.redis_url, backends.prefix, provider_url]
        for index in range(workers):
            fleet.processes[f"dispatcher_{index + 1}"] = _start(
                ["-m", "mmt.bench.worker", *argv, "sms", fleet.scheduler_url, str(fallback_wait_s)],
                env,
                stdout=subprocess.PIPE,
            )
        # Started together (imports take seconds each on a busy machine), awaited together.
        for port in ports.values():
            await asyncio.to_thread(wait_for_port, port, START_LIMIT_S)
        for name, process in fleet.processes.items():
            if name.startswith("dispatcher"):
                await asyncio.wait_for(asyncio.to_thread(_ready, process), START_LIMIT_S)
    except BaseException:
        fleet.stop()
        raise
    return fleet


def _ready(process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    if not process.stdout.readline().startswith(b'{"ready"'):
        raise RuntimeError("a dispatcher did not start")


def _start(argv: list[str], env: dict[str, str], stdout: int | None = None) -> Any:
    return subprocess.Popen([sys.executable, *argv], env=env, cwd=ROOT, stdout=stdout)
