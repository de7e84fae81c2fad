"""Where a bench run's CPU went, process by process, and the machine's as a whole.

On a 2-core machine the load generator and the fake provider share the cores with the
services they drive; a run's wall time alone cannot tell how much of it was ours. Each
figure is user plus system CPU from /proc between two snapshots: the named processes by
pid, PostgreSQL and Redis by command name (backends that ended between the snapshots are
missed, the pools keep theirs open), and the machine's busy time from /proc/stat.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

from mmt.bench.common import cpu_seconds

_SERVERS = {"postgres": "postgresql", "redis-server": "redis"}


@dataclass(frozen=True)
class Snapshot:
    processes: dict[str, float]  # by our name for it
    servers: dict[str, float]  # postgresql, redis
    machine_busy: float
    machine_total: float


def snapshot(pids: dict[str, int]) -> Snapshot:
    """CPU seconds so far of each named pid ("bench" is this process), of the database
    and Redis servers, and of the machine."""
    processes = {name: cpu_seconds([pid]) for name, pid in pids.items()}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    processes["bench"] = usage.ru_utime + usage.ru_stime
    busy, total = _machine()
    return Snapshot(processes, _servers(), busy, total)


def spent(before: Snapshot, after: Snapshot) -> dict[str, object]:
    """CPU seconds between two snapshots, by process and server, and the machine's busy
    share (1.0: every core busy throughout)."""
    by_name = {
        name: round(after.processes[name] - before.processes.get(name, 0.0), 1)
        for name in after.processes
    }
    servers = {
        name: round(after.servers.get(name, 0.0) - before.servers.get(name, 0.0), 1)
        for name in _SERVERS.values()
    }
    total = after.machine_total - before.machine_total
    return {
        "processes": by_name,
        "servers": servers,
        "machine_busy_s": round(after.machine_busy - before.machine_busy, 1),
        "machine_busy_share": round((after.machine_busy - before.machine_busy) / total, 3)
        if total > 0
        else None,
    }


def _servers() -> dict[str, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    sums = dict.fromkeys(_SERVERS.values(), 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:  # ended while we looked
            continue
        command = head.split("(", 1)[1]
        name = _SERVERS.get(command)
        if name is not None:
            fields = tail.split()
            sums[name] += (int(fields[11]) + int(fields[12])) / ticks
    return sums


def _machine() -> tuple[float, float]:
    """Busy and total CPU seconds of every core since boot (/proc/stat's first line)."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / ticks, sum(fields) / ticks
