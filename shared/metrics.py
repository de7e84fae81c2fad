"""Prometheus metrics of the bus, shared by every worker (the APIs add HTTP metrics)."""

from __future__ import annotations

from prometheus_client import Counter

BUS_MESSAGES = Counter(
    "mmt_bus_messages_total",
    "Bus entries a consumer group finished with, by outcome "
    "(handled, duplicate, failed, dead_lettered).",
    ["group", "type", "outcome"],
)
OUTBOX_PUBLISHED = Counter(
    "mmt_outbox_published_total", "Outbox rows published to the bus.", ["service"]
)
OUTBOX_REPLAYED = Counter(
    "mmt_outbox_replayed_total",
    "Outbox rows queued again because Redis lost its data.",
    ["service"],
)
