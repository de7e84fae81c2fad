"""What the shared plumbing needs to know about a service (the composition root, `mmt`,
knows where each one is: mmt/registry.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import MetaData

from shared.bus import BatchHandler, Handler, OutboxMixin, ProcessedMessageMixin, StateGuarded
from shared.db import Database
from shared.diagnostics import BusProbeMixin
from shared.messages import Message
from shared.settings import ServiceName, Settings


@dataclass(frozen=True)
class PeriodicJob:
    """A coarse tick run by the worker's APScheduler (never one job per patient)."""

    name: str
    seconds: float
    run: Callable[[], Awaitable[object]]
    run_at_start: bool = True  # else the first run waits a whole interval


@dataclass
class WorkerParts:
    """What a service's worker adds to the shared plumbing, built with live resources."""

    handlers: Mapping[type[Message], Handler] = field(default_factory=dict)
    batch_handlers: Mapping[type[Message], BatchHandler | StateGuarded] = field(
        default_factory=dict
    )
    jobs: Sequence[PeriodicJob] = ()
    aclose: Callable[[], Awaitable[None]] | None = None


WorkerSetup = Callable[[Database, Settings], Awaitable[WorkerParts]]


@dataclass(frozen=True)
class ServiceDefinition:
    name: ServiceName
    metadata: MetaData
    outbox_model: type[OutboxMixin]
    processed_model: type[ProcessedMessageMixin]
    probe_model: type[BusProbeMixin]
    migrations: Path
    handlers: Mapping[type[Message], Handler] = field(default_factory=dict)
    worker_setup: WorkerSetup | None = None
