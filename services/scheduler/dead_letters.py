"""The bus's dead letters for admins, read-only: which message of which stream a group gave
up on, why, after how many deliveries. Never the payload: a message may carry patient ids
and its body is not needed to see that something is stuck (`mmt deadletters replay`).

The dead-letter stream is shared by every service, so one service (the scheduler) serves
it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import msgspec
from litestar import Controller, get
from litestar.datastructures import State

from shared.access.tokens import Role
from shared.access.web import policy
from shared.bus import BusKeys, list_dead_letters
from shared.params import Limit


class DeadLetterOut(msgspec.Struct, kw_only=True):
    """shared.bus.DeadLetter as the API shows it (a Struct: the OpenAPI schema's source)."""

    id: str
    stream: str
    entry: str  # the original entry's id on its stream
    group: str
    type: str
    reason: str
    deliveries: int
    at: str


class DeadLetterController(Controller):
    path = "/dead-letters"
    tags = ["diagnostics"]

    @get(
        "/",
        opt=policy(Role.ADMIN, resource="dead-letter"),
        summary="The bus's dead letters, newest first (no payloads)",
    )
    async def list_letters(self, state: State, limit: Limit = 50) -> list[DeadLetterOut]:
        keys: BusKeys = state.bus_keys
        redis: Any = state.redis
        return [DeadLetterOut(**asdict(d)) for d in await list_dead_letters(redis, keys, limit)]
