"""Builders for scheduler tests: clinics, principals, patients, a fixed clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from services.scheduler import patients, planner
from services.scheduler.dispatch import Dispatcher
from services.scheduler.models import Attempt, Message, Occurrence, Outbox
from services.scheduler.patients import Scheduler
from services.scheduler.schemas import Consent, PatientIn, PatientOut
from services.scheduler.settings import SchedulerSettings
from shared.access.clinics import ClinicIn, create_clinic
from shared.access.tokens import Principal, Role
from shared.bus import decode
from shared.channels import ChannelRegistry
from shared.crypto import IdentifierCipher, IdentifierSettings
from shared.db import Database

ADMIN = Principal("admin0000000", Role.ADMIN, frozenset())


async def clinic(access_db: Database, code: str = "YX", tz: str = "Asia/Shanghai") -> int:
    made = await create_clinic(
        access_db,
        ClinicIn(code=code, name=f"Clinic {code}", time_zone=tz, help_phone="0877 2012345"),
    )
    return made.id


def context(
    db: Database, access_db: Database, clock: Callable[[], datetime] | None = None
) -> Scheduler:
    cipher = IdentifierCipher.from_settings(IdentifierSettings())
    if clock is None:
        return Scheduler(db, access_db, cipher)
    return Scheduler(db, access_db, cipher, clock=clock)


def patient_in(clinic_id: int, number: str, **changes: Any) -> PatientIn:
    fields: dict[str, Any] = {
        "clinic_id": clinic_id,
        "clinic_number": number,
        "display_name": "L.W.",
        "consent": Consent(version="v1", given_at=datetime(2026, 11, 1, tzinfo=UTC)),
        "phone": f"+86 138 0013 {int(number[-4:]):04d}"
        if number[-4:].isdigit()
        else "+8613800138000",
    }
    fields.update(changes)
    return PatientIn(**fields)


async def enrol(ctx: Scheduler, clinic_id: int, number: str, **changes: Any) -> PatientOut:
    return await patients.enrol(ctx, ADMIN, patient_in(clinic_id, number, **changes))


async def due_now(db: Database, patient_id: int, now: datetime, kind: str = "dose") -> int:
    """The patient's only occurrence, due at `now` and open for an hour; its id."""
    async with db.transaction() as session:
        await session.execute(delete(Occurrence))
        session.add(
            due := Occurrence(
                patient_id=patient_id,
                kind=kind,
                local_date=now.date(),
                slot="now",
                due_at=now,
                expires_at=now + timedelta(hours=1),
                state="planned",
            )
        )
    return due.id


async def dispatch_due(db: Database, dispatcher: Dispatcher, now: datetime) -> None:
    """Release what is due and hand its one SendMessage command to `dispatcher`."""
    await planner.release_due(db, SchedulerSettings(), now)
    async with db.sessions() as session:
        [row] = (
            (await session.execute(select(Outbox).where(Outbox.message_name == "SendMessage")))
            .scalars()
            .all()
        )
    async with db.transaction() as session:
        await dispatcher.handle(decode({"m": row.payload}), session)  # type: ignore[arg-type]


async def dispatch_one(
    db: Database, access_db: Database, registry: ChannelRegistry, **patient: Any
) -> tuple[Message, list[Attempt]]:
    """Enrol patient 0001 (`patient`: its fields), make a dose reminder due now and send it
    through `registry`: the message as recorded, and its attempts in order."""
    ctx = context(db, access_db)
    enrolled = await enrol(ctx, await clinic(access_db), "0001", **patient)
    now = datetime.now(UTC)
    due_id = await due_now(db, enrolled.id, now)
    await dispatch_due(db, Dispatcher(db, ctx.cipher, registry, None), now)
    async with db.sessions() as session:
        message = (
            await session.execute(select(Message).where(Message.occurrence_id == due_id))
        ).scalar_one()
        attempts = (
            await session.execute(
                select(Attempt).where(Attempt.message_id == message.id).order_by(Attempt.id)
            )
        ).scalars()
        return message, list(attempts)
