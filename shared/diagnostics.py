"""The bus probe: an operator's end-to-end check that events travel between services.

`POST /api/v1/bus-probes` on one service writes a `BusProbeSent` event to its outbox; every
service's worker records the probes it receives, and `GET /api/v1/bus-probes/{id}` on a
service says whether that service has seen it. `mmt doctor --probe` uses it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

import msgspec
from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shared.access.tokens import Role
from shared.access.web import policy
from shared.bus import Handler, add_to_outbox
from shared.db import Database, UTCDateTime
from shared.messages import BusProbeSent


class BusProbeMixin:
    __tablename__ = "bus_probes"

    probe_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    origin: Mapped[str] = mapped_column(String(40))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


def probe_handler(probe_model: type[BusProbeMixin]) -> Handler:
    model: Any = probe_model  # a mixin: the concrete class is the service's

    async def record_probe(event: BusProbeSent, session: AsyncSession) -> None:
        session.add(
            model(
                probe_id=str(event.id),
                origin=event.origin,
                sent_at=event.occurred_at,
                received_at=datetime.now(UTC),
            )
        )

    return record_probe


class ProbeRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Like every body: an unknown field is a 400, not silently ignored."""

    note: Annotated[str, msgspec.Meta(max_length=200)] = ""

    openapi_example: ClassVar[dict[str, str]] = {"note": "mmt doctor"}


class ProbeSent(msgspec.Struct, kw_only=True):
    probe_id: str
    origin: str


class ProbeReceipt(msgspec.Struct, kw_only=True):
    probe_id: str
    origin: str
    received_by: str
    sent_at: datetime
    received_at: datetime


class BusProbeController(Controller):
    path = "/bus-probes"
    tags = ["diagnostics"]

    @post(
        "/",
        status_code=202,
        opt=policy(Role.ADMIN, resource="bus-probe"),
        summary="Send a probe event through the outbox and bus",
    )
    async def send_probe(self, state: State, data: JSONBody[ProbeRequest]) -> ProbeSent:
        db: Database = state.db
        definition: Any = state.definition
        event = BusProbeSent(origin=definition.name, note=data.note)
        async with db.transaction() as session:
            add_to_outbox(session, definition.outbox_model, event)
        return ProbeSent(probe_id=str(event.id), origin=definition.name)

    @get(
        "/{probe_id:str}",
        opt=policy(Role.ADMIN, resource="bus-probe"),
        summary="Has this service received the probe?",
    )
    async def get_probe(self, state: State, probe_id: FromPath[str]) -> ProbeReceipt:
        db: Database = state.db
        definition: Any = state.definition
        model = state.probe_model
        async with db.sessions() as session:
            row = (
                await session.execute(select(model).where(model.probe_id == probe_id))
            ).scalar_one_or_none()
        if row is None:
            raise NotFoundException(f"{definition.name} has not received probe {probe_id}")
        return ProbeReceipt(
            probe_id=row.probe_id,
            origin=row.origin,
            received_by=definition.name,
            sent_at=row.sent_at,
            received_at=row.received_at,
        )
