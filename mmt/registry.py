"""Where each service is: the one place that names them all (the library, `shared/`, knows
none of them, so that a service can be added or removed here alone)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path

from shared.migrate import ACCESS_MIGRATIONS, migrate_owners
from shared.service import ServiceDefinition
from shared.settings import SERVICES, DatabaseSettings


def load_service(name: str) -> ServiceDefinition:
    """Import `services.<name>.definition` lazily, so a process loads only what it runs."""
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; choose one of {', '.join(SERVICES)}")
    module = importlib.import_module(f"services.{name}.definition")
    definition: ServiceDefinition = module.SERVICE
    return definition


def all_services() -> Sequence[ServiceDefinition]:
    return [load_service(name) for name in SERVICES]


def migration_targets() -> list[tuple[str, Path]]:
    """(schema owner, migrations folder), access first: services' routes depend on it."""
    return [("access", ACCESS_MIGRATIONS)] + [(d.name, d.migrations) for d in all_services()]


def migrations_of(owner: str) -> Path:
    """The migrations folder of `access` or of a service."""
    return ACCESS_MIGRATIONS if owner == "access" else load_service(owner).migrations


async def migrate_all(
    settings: DatabaseSettings,
    only: str | None = None,
    report: Callable[[str], object] = lambda _line: None,
) -> None:
    """Migrate the access schema, then every service's (or only the owner named)."""
    await migrate_owners(settings, migration_targets(), only, report)
