"""What the shared plumbing needs to know about a service, and where to find each one."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import MetaData

from shared.bus import Handler, OutboxMixin, ProcessedMessageMixin
from shared.diagnostics import BusProbeMixin
from shared.messages import Message
from shared.settings import SERVICES, ServiceName


@dataclass(frozen=True)
class PeriodicJob:
    """A coarse tick run by the worker's APScheduler (never one job per patient)."""

    name: str
    seconds: float
    run: Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class ServiceDefinition:
    name: ServiceName
    metadata: MetaData
    outbox_model: type[OutboxMixin]
    processed_model: type[ProcessedMessageMixin]
    probe_model: type[BusProbeMixin]
    migrations: Path
    handlers: Mapping[type[Message], Handler] = field(default_factory=dict)
    jobs: Sequence[PeriodicJob] = ()


def load_service(name: str) -> ServiceDefinition:
    """Import `services.<name>.definition` lazily, so a process loads only what it runs."""
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; choose one of {', '.join(SERVICES)}")
    module = importlib.import_module(f"services.{name}.definition")
    definition: ServiceDefinition = module.SERVICE
    return definition


def all_services() -> Sequence[ServiceDefinition]:
    return [load_service(name) for name in SERVICES]
