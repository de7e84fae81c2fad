"""What a chaos run is made of: its plan, the faults it recorded, and its processes."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmt.processes import die_with_parent, private_redis_argv
from shared.net import wait_for_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ChaosPlan:
    """What to do; the defaults are CI's bounded run."""

    reminders: int = 2000
    spread_s: float = 15.0  # the burst comes due over this long, so faults land mid-burst
    workers: int = 2
    error_rate: float = 0.2  # the fake answers 503
    rate_limit_rate: float = 0.1  # the fake answers 429 (Retry-After 1 s)
    latency_ms: float = 30.0
    kill_worker_at: float | None = 0.25  # share of the burst handed over: SIGKILL, restart
    flush_redis_at: float | None = 0.55  # FLUSHALL the private Redis
    restart_redis_at: float | None = None  # stop and start it (nothing kept on disk)
    restart_postgres_at: float | None = None  # the machine's cluster: only `mmt chaos --...`
    poison: bool = True  # one garbled command: it must land in the dead letters, visibly
    # A wipe waits this long after the kill. Within the 60 s a dead worker's messages stay
    # "sending", a wipe strands them (reported: a batch skips and acknowledges them).
    wipe_after_kill_s: float = 0.0
    timeout_s: float = 300.0
    # RETRY_BACKOFF_S for the workers; None: the deployment default (5 s: 10, 20, 40, 80 s).
    retry_backoff_s: float | None = None


@dataclass
class Faults:
    """When each fault happened and what was in flight then (the duplicate bound)."""

    started: float  # time.monotonic() when the workers started
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def in_flight(self) -> int:
        return sum(int(e["in_flight"]) for e in self.events)


class Suite:
    """The processes of one run, each started here and ended here."""

    def __init__(self, env: dict[str, str], workers: int, redis_port: int) -> None:
        self.env, self.redis_port = env, redis_port
        self.redis: subprocess.Popen[bytes] | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * workers

    def start_redis(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("chaos runs need redis-server on PATH (a private one is started)")
        self.redis = subprocess.Popen(
            private_redis_argv(server, self.redis_port),
            stdout=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        wait_for_port(self.redis_port, 10)

    def _mmt(self, *args: str, name: str = "") -> subprocess.Popen[bytes]:
        env = {**self.env, "BUS_CONSUMER_NAME": name} if name else self.env
        return subprocess.Popen(
            [sys.executable, "-m", "mmt", *args],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,  # an interrupted run leaves no orphans
        )

    def start_api(self) -> None:
        self.api = self._mmt("serve", "scheduler")
        wait_for_port(int(self.env["SCHEDULER_PORT"]), 30)

    def start_worker(self, index: int) -> None:
        # A new name each start, as a new pod or process gets: the old one's pending
        # entries are left for the group to reclaim.
        self.workers[index] = self._mmt(
            "worker", "scheduler", name=f"chaos-{index}-{uuid.uuid4().hex[:6]}"
        )

    def kill_worker(self, index: int) -> None:
        process = self.workers[index]
        if process is not None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

    def restart_redis(self) -> None:
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(timeout=10)
        self.start_redis()

    def dead(self) -> list[str]:
        named = [("api", self.api), *((f"worker-{i}", w) for i, w in enumerate(self.workers))]
        return [name for name, p in named if p is not None and p.poll() is not None]

    def stop(self) -> None:
        for process in [*self.workers, self.api, self.redis]:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in [*self.workers, self.api, self.redis]:
            if process is None:
                continue
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
