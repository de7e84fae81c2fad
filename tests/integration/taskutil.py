"""Builders for the follow-up task tests: both databases on PostgreSQL or SQLite, a clinic
with patients, and task rows read back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mmt.registry import load_service
from services.scheduler.patients import Scheduler
from services.scheduler.tasks.models import Task, TaskSignal
from services.scheduler.tasks.signals import raise_signal
from shared.access.staff import StaffInfo, create_staff
from shared.access.tokens import Role
from shared.db import Database
from shared.migrate import ACCESS_MIGRATIONS, migrate
from tests.conftest import Backends
from tests.integration.schedutil import clinic, context, enrol


@dataclass
class World:
    db: Database
    access_db: Database
    ctx: Scheduler
    clinic_a: int
    clinic_b: int
    patient_a: int  # of clinic A
    patient_a2: int  # of clinic A
    patient_b: int  # of clinic B


async def make_world(db: Database, access_db: Database) -> World:
    a, b = await clinic(access_db, "YX"), await clinic(access_db, "KM")
    ctx = context(db, access_db)
    pa = await enrol(ctx, a, "YX-0001")
    pa2 = await enrol(ctx, a, "YX-0002")
    pb = await enrol(ctx, b, "KM-0001")
    return World(db, access_db, ctx, a, b, pa.id, pa2.id, pb.id)


async def either_world(
    request: pytest.FixtureRequest, backends: Backends, isolation: str, tmp_path: Path
) -> AsyncIterator[World]:
    """The scheduler's and access schemas on PostgreSQL or on SQLite (the embedded default)."""
    dbs: list[Database] = []
    for name in ("scheduler", "access"):
        if request.param == "sqlite":
            db = Database(f"sqlite+aiosqlite:///{tmp_path}/{name}.db", name)
        else:
            db = Database(backends.database_url, name, schema_prefix=isolation, pool_size=5)
        await migrate(db, ACCESS_MIGRATIONS if name == "access" else load_service(name).migrations)
        dbs.append(db)
    yield await make_world(dbs[0], dbs[1])
    for db in dbs:
        if not db.is_sqlite:
            await db.drop_schema()
        await db.dispose()


async def tasks_of(db: Database, patient_id: int) -> list[Task]:
    async with db.sessions() as session:
        rows = await session.execute(
            select(Task).where(Task.patient_id == patient_id).order_by(Task.id)
        )
        return list(rows.scalars())


async def signal_keys(db: Database, task_id: int) -> list[str]:
    async with db.sessions() as session:
        rows = await session.execute(
            select(TaskSignal.signal_key)
            .where(TaskSignal.task_id == task_id)
            .order_by(TaskSignal.id)
        )
        return list(rows.scalars())


async def staff(
    world: World, login: str, role: Role, clinics: tuple[str, ...] = (), phone: str | None = None
) -> StaffInfo:
    """A staff account (a console sign-in's person); a phone is stored encrypted."""
    return await create_staff(
        world.access_db,
        login=login,
        name=login.title(),
        role=role,
        clinics=clinics,
        password="a long test password 42",
        phone=phone,
        cipher=world.ctx.cipher,
    )


async def overdue_task(
    world: World, key: str, patient_id: int | None = None, kind: str = "urgent_need"
) -> int:
    """An open task of patient A (or `patient_id`) signalled, and so due, a day ago."""
    patient = patient_id or world.patient_a
    clinic_id = world.clinic_b if patient == world.patient_b else world.clinic_a
    async with world.db.transaction() as session:
        return await raise_signal(
            session,
            kind=kind,
            clinic_id=clinic_id,
            patient_id=patient,
            signal_key=key,
            signalled_at=datetime.now(UTC) - timedelta(days=1),
        )
