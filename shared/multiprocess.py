"""Prometheus metrics of an API served by several processes (`mmt serve`, API_PROCESSES).

prometheus_client keeps a metric's value in its process, so with API_PROCESSES > 1 a
scrape of `/metrics` would see whichever process the kernel handed the connection to.
In its multiprocess mode each process writes its values to files in one directory and
`/metrics` (Litestar's controller, when `PROMETHEUS_MULTIPROC_DIR` is set) adds them up:
request counts and latency histograms are the whole API's. That mode has no process or
garbage-collector metrics (`process_*`, `python_gc_*`): they describe one process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.settings import ServiceSettings

_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def shared_metrics_dir(settings: ServiceSettings, service: str, processes: int) -> Iterator[None]:
    """With several processes, point prometheus_client at an empty shared directory.

    It is set before the processes start (prometheus_client reads it when imported) and
    must be empty: files left by an earlier run would add its counts to this one's. A
    directory this function made is removed afterwards.
    """
    if processes <= 1:  # one process: its own registry (or the environment's choice)
        yield
        return
    made = settings.prometheus_multiproc_dir is None
    directory = Path(
        tempfile.mkdtemp(prefix=f"mmt-{service}-metrics-")
        if made
        else settings.prometheus_multiproc_dir or ""
    )
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    previous = os.environ.get(_ENV)
    os.environ[_ENV] = str(directory)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_ENV, None)
        else:
            os.environ[_ENV] = previous
        if made:
            shutil.rmtree(directory, ignore_errors=True)
