"""`mmt healthcheck api|worker NAME`: exit 0 when healthy, for container probes.

Probes run every few seconds in every container, so this path imports only the standard
library and the settings: through the full command line (typer and every service, 2.4 s
of CPU) one probe every 15 s cost a worker container a sixth of a core. `mmt.entry.main()` sends
`healthcheck` here before importing anything else; `mmt healthcheck --help` still goes
through the full command line, which documents these commands.
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request

from shared.settings import SERVICES, ServiceName, get_settings

USAGE = "usage: mmt healthcheck api NAME | worker NAME [--max-age SECONDS]"
DEFAULT_MAX_AGE_S = 30


def _service(name: str) -> ServiceName:
    if name not in SERVICES:
        raise LookupError(f"unknown service {name!r}; choose one of {', '.join(SERVICES)}")
    return name


def check_api(name: str) -> str | None:
    """None when the service's /ready answers 200 on this host, else what is wrong."""
    service = _service(name)
    url = f"http://127.0.0.1:{get_settings().service.port(service)}/ready"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return None if response.status == 200 else f"{name}: /ready answered {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{name}: not ready ({exc})"


def check_worker(name: str, max_age_s: float = DEFAULT_MAX_AGE_S) -> str | None:
    """None when the service's worker touched its heartbeat file within `max_age_s`."""
    path = get_settings().service.heartbeat_file(_service(name))
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return f"{name}-worker: no heartbeat at {path}"
    return None if age <= max_age_s else f"{name}-worker: last heartbeat {age:.0f}s ago"


def run(argv: list[str]) -> int:
    """The probe's exit code: 0 healthy, 1 unhealthy, 2 a wrong command."""
    try:
        match argv:
            case ["api", name]:
                problem = check_api(name)
            case ["worker", name]:
                problem = check_worker(name)
            case ["worker", name, "--max-age", seconds] if seconds.isdigit():
                problem = check_worker(name, float(seconds))
            case _:
                print(USAGE, file=sys.stderr)
                return 2
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    return 0
