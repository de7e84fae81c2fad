"""Tables the content service owns, all under its own schema; no other service reads them."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from shared.bus import OutboxMixin, ProcessedMessageMixin
from shared.diagnostics import BusProbeMixin

SCHEMA = "content"  # logical name; shared.db translates it to the real schema


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class Outbox(OutboxMixin, Base):
    pass


class ProcessedMessage(ProcessedMessageMixin, Base):
    pass


class BusProbe(BusProbeMixin, Base):
    pass
