"""How the shared plumbing (worker, migrations, CLI) sees the content service."""

from __future__ import annotations

from pathlib import Path

from services.content.models import Base, BusProbe, Outbox, ProcessedMessage
from services.content.worker import setup
from shared.diagnostics import probe_handler
from shared.messages import BusProbeSent
from shared.service import ServiceDefinition

SERVICE = ServiceDefinition(
    name="content",
    metadata=Base.metadata,
    outbox_model=Outbox,
    processed_model=ProcessedMessage,
    probe_model=BusProbe,
    migrations=Path(__file__).parent / "migrations",
    handlers={BusProbeSent: probe_handler(BusProbe)},
    worker_setup=setup,
)
