"""Names of every Redis key the bus uses, in one place, all under one prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BusKeys:
    prefix: str = "mmt"

    def stream(self, message_name: str) -> str:
        """One stream per message name; all versions of a message share it."""
        return f"{self.prefix}:stream:{message_name}"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}:deadletters"

    def errors(self, group: str) -> str:
        """Last handler error per pending entry, so a dead letter can say why."""
        return f"{self.prefix}:errors:{group}"

    def outbox_epoch(self, service: str) -> str:
        """Present while Redis still holds what this service's relay published."""
        return f"{self.prefix}:outbox-epoch:{service}"

    def signed_call(self, channel: str, digest: str) -> str:
        """A signed webhook call already seen (replay protection); set with an expiry."""
        return f"{self.prefix}:{channel}:signed:{digest}"
