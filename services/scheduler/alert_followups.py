"""Follow-up notes on dropout alerts, each with an outcome: what a coordinator did after
the alert (called, visited, referred) and how it ended, signed with the writer's name.

A note changes nothing else: acknowledging stays its own step, so an alert that is being
worked on stays on the Today page with its notes under it until someone closes it.
The alert's `outcome` is that of its latest note that named one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.models import Alert, AlertFollowup
from services.scheduler.patients import Scheduler
from shared.access.authors import author_name
from shared.access.tokens import Principal
from shared.errors import NotFound

Outcome = Literal["reached", "not_reachable", "referred", "resolved", "other"]
OUTCOMES: tuple[str, ...] = Outcome.__args__  # type: ignore[attr-defined]


class FollowupIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    outcome: Outcome | None = None

    openapi_example: ClassVar[dict[str, Any]] = {
        "text": "Phoned twice; his sister says he is in hospital.",
        "outcome": "not_reachable",
    }


class FollowupOut(msgspec.Struct, kw_only=True):
    id: int
    alert_id: int
    outcome: str | None
    text: str
    author: str  # token id
    author_name: str | None  # "Name (login)" for staff, kept at writing
    created_at: datetime


def followup_out(row: AlertFollowup) -> FollowupOut:
    return FollowupOut(
        id=row.id,
        alert_id=row.alert_id,
        outcome=row.outcome,
        text=row.text,
        author=row.author,
        author_name=row.author_name,
        created_at=row.created_at,
    )


async def followups_of(
    session: AsyncSession, alert_ids: Iterable[int]
) -> dict[int, list[FollowupOut]]:
    """The alerts' notes, oldest first, in one query."""
    ids = list(alert_ids)
    found: dict[int, list[FollowupOut]] = defaultdict(list)
    if not ids:
        return found
    rows = await session.execute(
        select(AlertFollowup)
        .where(AlertFollowup.alert_id.in_(ids))
        .order_by(AlertFollowup.created_at, AlertFollowup.id)
    )
    for row in rows.scalars():
        found[row.alert_id].append(followup_out(row))
    return found


def latest_outcome(notes: list[FollowupOut]) -> str | None:
    return next((n.outcome for n in reversed(notes) if n.outcome is not None), None)


async def add_followup(
    ctx: Scheduler, principal: Principal, alert_id: int, data: FollowupIn
) -> FollowupOut:
    name = await author_name(ctx.access_db, principal.token_id)
    async with ctx.db.transaction() as session:
        alert = await session.get(Alert, alert_id)
        if alert is None or not principal.can_access_clinic(alert.clinic_id):
            raise NotFound(f"no alert {alert_id}")
        row = AlertFollowup(
            alert_id=alert.id,
            outcome=data.outcome,
            text=data.text,
            author=principal.token_id,
            author_name=name,
            created_at=ctx.clock(),
        )
        session.add(row)
        await session.flush()
        return followup_out(row)
