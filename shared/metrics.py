"""Prometheus metrics of the bus, shared by every worker (the APIs add HTTP metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
WORKER_HEARTBEAT = Gauge(
    "mmt_worker_heartbeat_timestamp_seconds",
    "When a service's worker last beat (every 5 s while its event loop runs).",
    ["service"],
    multiprocess_mode="max",
)
CHANNEL_SENDS = Counter(
    "mmt_channel_sends_total",
    "Provider calls by channel and outcome (sent, delivered, permanent, retryable, "
    "rate_limited, opted_out): one per attempt a message records.",
    ["channel", "outcome"],
)
DELIVERY_RECEIPT_DELAY = Histogram(
    "mmt_delivery_receipt_delay_seconds",
    "From a send to its provider's final receipt (delivered or failed), by provider. Past "
    "RECEIPT_TIMEOUT_MINUTES the message would have been tried on another channel.",
    ["provider"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
