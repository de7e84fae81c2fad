"""Loopback ports for processes this machine starts (the dev runner, fakes, tests)."""

from __future__ import annotations

import socket
import time


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it; another process may take it
    before the caller binds, which on a developer's machine is rare enough)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout_s: float) -> None:
    """Return once something accepts connections on the loopback port; raise after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout_s}s")
