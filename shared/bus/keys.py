"""Names of every Redis key the bus uses, in one place, all under one prefix.

The prefix is a Redis Cluster hash tag (`{mmt}:stream:SendMessage`): only the part in
braces decides a key's slot, so every bus key lives in one slot. The bus needs that on a
cluster: a consumer reads all its streams in one XREADGROUP, and acknowledging an entry,
clearing its error and dead-lettering it are MULTI transactions over a stream, the errors
hash and the dead-letter stream. One slot is one master's work; the bus's few thousand
entries a second are a small part of what one Redis serves. On a single Redis the braces
are just characters of the name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BusKeys:
    prefix: str = "mmt"

    @property
    def tag(self) -> str:
        """The hash-tagged prefix every bus key starts with."""
        return f"{{{self.prefix}}}"

    def stream(self, message_name: str) -> str:
        """One stream per message name; all versions of a message share it."""
        return f"{self.tag}:stream:{message_name}"

    @property
    def dead_letters(self) -> str:
        return f"{self.tag}:deadletters"

    def errors(self, group: str) -> str:
        """Last handler error per pending entry, so a dead letter can say why."""
        return f"{self.tag}:errors:{group}"

    def outbox_epoch(self, service: str) -> str:
        """Present while Redis still holds what this service's relay published."""
        return f"{self.tag}:outbox-epoch:{service}"

    def signed_call(self, channel: str, digest: str) -> str:
        """A signed webhook call already seen (replay protection); set with an expiry."""
        return f"{self.tag}:{channel}:signed:{digest}"
