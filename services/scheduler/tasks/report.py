"""Time from signal to first contact, per kind, for a clinic's tasks first signalled in a
period: how many, how many contacted, the median and 90th percentile in hours, how many
are still open and how many of those are overdue."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from sqlalchemy import select

from services.scheduler.patients import Scheduler
from services.scheduler.tasks.clinic_settings import get_task_settings
from services.scheduler.tasks.models import Task
from services.scheduler.tasks.rules import KINDS, OPEN_STATUSES, overdue
from services.scheduler.tasks.schemas import KindContact, TimeToContact
from shared.access.tokens import Principal
from shared.errors import InvalidInput

MAX_SPAN = timedelta(days=366)
DEFAULT_SPAN = timedelta(days=30)


def percentile(hours: list[float], share: float) -> float | None:
    """Linear between the nearest ranks (the inclusive method); None for no values."""
    if not hours:
        return None
    if len(hours) == 1:
        return round(hours[0], 2)
    cuts = statistics.quantiles(hours, n=100, method="inclusive")
    return round(cuts[int(share * 100) - 1], 2)


def period(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    end = end or now
    start = start or end - DEFAULT_SPAN
    if start >= end:
        raise InvalidInput("from: must be before to")
    if end - start > MAX_SPAN:
        raise InvalidInput("from: the period may span at most 366 days")
    return start, end


async def time_to_contact(
    ctx: Scheduler,
    principal: Principal,
    clinic_id: int,
    start: datetime | None,
    end: datetime | None,
) -> TimeToContact:
    await get_task_settings(ctx, principal, clinic_id)  # the clinic's scope and existence
    now = ctx.clock()
    start, end = period(start, end, now)
    async with ctx.db.sessions() as session:
        rows = (
            await session.execute(
                select(
                    Task.kind, Task.status, Task.signalled_at, Task.first_contact_at, Task.due_at
                ).where(
                    Task.clinic_id == clinic_id,
                    Task.signalled_at >= start,
                    Task.signalled_at < end,
                )
            )
        ).all()
    kinds = []
    for kind in KINDS:
        mine = [r for r in rows if r.kind == kind]
        hours = sorted(
            (r.first_contact_at - r.signalled_at).total_seconds() / 3600
            for r in mine
            if r.first_contact_at is not None
        )
        kinds.append(
            KindContact(
                kind=kind,
                tasks=len(mine),
                contacted=len(hours),
                median_hours=round(statistics.median(hours), 2) if hours else None,
                p90_hours=percentile(hours, 0.9),
                still_open=sum(r.status in OPEN_STATUSES for r in mine),
                overdue=sum(overdue(r.status, r.due_at, now) for r in mine),
            )
        )
    return TimeToContact(clinic_id=clinic_id, from_=start, to=end, kinds=kinds)
