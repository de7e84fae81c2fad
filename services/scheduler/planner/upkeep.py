"""Upkeep ticks: end what a window closed on, and resume patients whose pause is over."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from services.scheduler.events import updated_event
from services.scheduler.history import note_state
from services.scheduler.models import Message, Outbox, Patient
from services.scheduler.timeplan import local_today
from shared.bus import add_to_outbox
from shared.db import Database


async def fail_stale(db: Database, now: datetime) -> int:
    """Messages a dispatcher never finished before their window closed end as failed, with
    the reason, so nothing stays in flight forever."""
    async with db.transaction() as session:
        result = await session.execute(
            update(Message)
            .where(Message.state.in_(("queued", "sending")), Message.expires_at < now)
            .values(
                state="failed",
                updated_at=now,
                reason=func.coalesce(Message.reason, "not sent before its window closed"),
            )
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def resume_due(db: Database, now: datetime) -> int:
    """Resume paused patients whose resume date has come in their own time zone."""
    resumed = 0
    async with db.transaction() as session:
        zones = (
            (
                await session.execute(
                    select(Patient.time_zone)
                    .where(Patient.state == "paused", Patient.resume_on.is_not(None))
                    .distinct()
                )
            )
            .scalars()
            .all()
        )
        for zone in zones:
            due = (
                (
                    await session.execute(
                        select(Patient)
                        .where(
                            Patient.state == "paused",
                            Patient.time_zone == zone,
                            Patient.resume_on <= local_today(now, zone),
                        )
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            for patient in due:
                patient.state, patient.pause_reason, patient.resume_on = "active", None, None
                patient.updated_at = now
                note_state(session, patient, now)
                add_to_outbox(session, Outbox, updated_event(patient))
            resumed += len(due)
    return resumed
