"""Run a fake as a child process on a free port (tests, chaos runs): started, always ended.

`with running_fake("twilio") as fake:` gives the fake's `url`; `fake.configure(error_rate=1.0)`
changes its knobs, `fake.stats()` reads its counters, `fake.reset()` puts both back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.net import free_port

FAKES = ("twilio", "wechat", "webhook", "tencent", "aliyun")


@dataclass
class RunningFake:
    name: str
    url: str  # http://127.0.0.1:PORT
    process: subprocess.Popen[bytes]

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (our own loopback URL)
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/_fake/stats")
        return result

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change knobs (`chaos={...}` or chaos knobs by name); returns them all."""
        result: dict[str, Any] = self._call("POST", "/_fake/config", knobs)
        return result

    def reset(self) -> None:
        self._call("POST", "/_fake/reset", {})

    def post(self, path: str, body: Any = None) -> Any:
        return self._call("POST", path, body if body is not None else {})

    def get(self, path: str) -> Any:
        return self._call("GET", path)


@contextmanager
def running_fake(name: str, *flags: str, timeout_s: float = 20.0) -> Iterator[RunningFake]:
    """Start `python -m deploy.fakes.NAME --port P FLAGS...`; wait (bounded) until it answers."""
    if name not in FAKES:
        raise ValueError(f"no fake called {name!r}; there are {', '.join(FAKES)}")
    port = free_port()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", f"deploy.fakes.{name}", "--port", str(port), *flags],
            stdout=subprocess.DEVNULL,
            stderr=errors,
            cwd=Path(__file__).resolve().parents[2],
        )
        fake = RunningFake(name, f"http://127.0.0.1:{port}", process)
        try:
            _wait_ready(fake, timeout_s, errors)
            yield fake
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_ready(fake: RunningFake, timeout_s: float, errors: Any) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if fake.process.poll() is not None:
            errors.seek(0)
            detail = errors.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"fake {fake.name} exited at start: {detail}")
        try:
            fake.stats()
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"fake {fake.name} did not answer within {timeout_s}s")
