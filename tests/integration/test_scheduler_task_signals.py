"""Signals make tasks (issue 22): each kind one task due by its rule, a redelivered signal
nothing extra, a second signal of the same kind joins the open task; on PostgreSQL and
SQLite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from services.scheduler.models import Attempt, Message, Occurrence
from services.scheduler.ratings import PatientRating
from services.scheduler.tasks.facts import signal_missed_after_reminder, signal_unreachable
from services.scheduler.tasks.handlers import (
    on_dropout_risk,
    on_need,
    on_rating,
    on_risk_alert,
    on_urgent_need,
)
from services.scheduler.tasks.rules import KINDS
from services.scheduler.tasks.signals import raise_signal
from shared.access.models import Clinic
from shared.messages import (
    DropoutRiskRaised,
    NeedRaised,
    RatingGiven,
    RiskAlertRaised,
    UrgentNeedRaised,
)
from tests.conftest import Backends
from tests.integration.taskutil import World, either_world, signal_keys, tasks_of

AT = datetime(2026, 12, 3, 2, 30, tzinfo=UTC)  # 10:30 in Asia/Shanghai


@pytest.fixture(params=["postgresql", "sqlite"])
async def world(
    request: pytest.FixtureRequest,
    backends: Backends,
    isolation: str,
    tmp_path: Path,
    secrets_env: dict[str, str],
) -> AsyncIterator[World]:
    async for made in either_world(request, backends, isolation, tmp_path):
        yield made


async def signal(world: World, kind: str, key: str, at: datetime = AT) -> int:
    async with world.db.transaction() as session:
        return await raise_signal(
            session,
            kind=kind,
            clinic_id=world.clinic_a,
            patient_id=world.patient_a,
            signal_key=key,
            signalled_at=at,
        )


async def test_each_kind_makes_one_task_due_by_its_rule(world: World) -> None:
    expected = {
        "dropout_risk": datetime(2026, 12, 3, 16, 0, tzinfo=UTC),  # midnight in Shanghai
        "urgent_need": AT + timedelta(hours=1),
    }
    for kind in KINDS:
        task_id = await signal(world, kind, f"{kind}:1")
        again = await signal(world, kind, f"{kind}:1")  # redelivered
        assert again == task_id
    tasks = await tasks_of(world.db, world.patient_a)
    assert sorted(t.kind for t in tasks) == sorted(KINDS)
    for task in tasks:
        assert task.due_at == expected.get(task.kind, AT + timedelta(days=3)), task.kind
        assert (task.status, task.signal_count, task.clinic_id) == ("open", 1, world.clinic_a)
        assert await signal_keys(world.db, task.id) == [f"{task.kind}:1"]


async def test_a_second_signal_joins_the_open_task_and_a_closed_one_starts_anew(
    world: World,
) -> None:
    first = await signal(world, "open_need", "need:1")
    second = await signal(world, "open_need", "need:2", AT + timedelta(hours=5))
    assert second == first
    [task] = await tasks_of(world.db, world.patient_a)
    assert task.signal_count == 2
    assert task.due_at == AT + timedelta(days=3)  # the first signal set the due time
    assert await signal_keys(world.db, first) == ["need:1", "need:2"]
    async with world.db.transaction() as session:
        found = await session.get(type(task), first)
        assert found is not None
        found.status = "done"
    third = await signal(world, "open_need", "need:3")
    assert third != first
    assert await signal(world, "open_need", "need:2") == first  # an old key stays with its task


async def test_bad_signals_are_refused(world: World) -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        await signal(world, "gossip", "x:1")
    with pytest.raises(ValueError, match="signal_key"):
        await signal(world, "open_need", "")
    with pytest.raises(ValueError, match="time zone"):
        await signal(world, "open_need", "x:2", datetime(2026, 12, 3))
    assert await tasks_of(world.db, world.patient_a) == []


# --- the bus events and the scheduler's own facts --------------------------------------


async def handle(world: World, handler: Any, event: Any) -> None:
    async with world.db.transaction() as session:
        await handler(event, session)


async def test_each_event_makes_one_task_and_redelivery_none_extra(world: World) -> None:
    pid, cid = world.patient_a, world.clinic_a
    events: list[tuple[Any, Any]] = [
        (
            on_dropout_risk,
            DropoutRiskRaised(
                alert_id=7, patient_id=pid, clinic_id=cid, missed_days=3, last_dose_on=None
            ),
        ),
        (
            on_risk_alert,
            RiskAlertRaised(
                alert_id=8,
                patient_id=pid,
                clinic_id=cid,
                instrument="k6",
                from_band="low",
                to_band="high",
            ),
        ),
        (
            on_need,
            NeedRaised(need_id=3, patient_id=pid, clinic_id=cid, category="legal", urgent=False),
        ),
        (
            on_urgent_need,
            UrgentNeedRaised(need_id=4, patient_id=pid, clinic_id=cid, category="medical"),
        ),
        # The urgent need's NeedRaised twin makes no second task.
        (
            on_need,
            NeedRaised(need_id=4, patient_id=pid, clinic_id=cid, category="medical", urgent=True),
        ),
    ]
    for handler, event in events:
        await handle(world, handler, event)
        await handle(world, handler, event)  # redelivered
    tasks = {t.kind: t for t in await tasks_of(world.db, pid)}
    assert sorted(tasks) == ["dropout_risk", "open_need", "risk_rise", "urgent_need"]
    urgent = tasks["urgent_need"]
    assert urgent.due_at - urgent.signalled_at == timedelta(hours=1)
    assert await signal_keys(world.db, urgent.id) == ["need:4"]
    assert tasks["open_need"].due_at - tasks["open_need"].signalled_at == timedelta(days=3)
    assert all(t.signal_count == 1 for t in tasks.values())
    # A patient this scheduler does not know: nothing to follow up, nothing raised.
    await handle(
        world,
        on_urgent_need,
        UrgentNeedRaised(need_id=5, patient_id=999_999, clinic_id=cid, category="medical"),
    )
    assert len(await tasks_of(world.db, pid)) == 4


async def test_two_low_ratings_in_a_row_make_a_task(world: World) -> None:
    pid, cid = world.patient_a, world.clinic_a

    def rating(value: int, minutes: int) -> RatingGiven:
        return RatingGiven(
            patient_id=pid, clinic_id=cid, rating=value, occurred_at=AT + timedelta(minutes=minutes)
        )

    for event in (rating(1, 0), rating(4, 1), rating(2, 2)):  # low, fine, low: not in a row
        await handle(world, on_rating, event)
    assert await tasks_of(world.db, pid) == []
    second_low = rating(1, 3)
    await handle(world, on_rating, second_low)
    await handle(world, on_rating, second_low)  # redelivered
    [task] = await tasks_of(world.db, pid)
    assert task.kind == "low_ratings"
    assert await signal_keys(world.db, task.id) == [f"rating:{second_low.id}"]
    async with world.db.sessions() as session:
        stored = await session.scalar(select(func.count()).where(PatientRating.patient_id == pid))
    assert stored == 4  # the ratings read model still records every rating once


async def test_a_message_failed_on_every_channel_makes_an_unreachable_task(world: World) -> None:
    now = datetime.now(UTC)
    failed = await message_with(world, "dose", "failed", now, tried=["sms"])
    await message_with(world, "lesson", "failed", now, tried=[])  # our side: keys missing
    clinic = await clinic_row(world)
    assert await signal_unreachable(world.db, clinic, now) == 1
    assert await signal_unreachable(world.db, clinic, now) == 0  # a second sweep
    [task] = await tasks_of(world.db, world.patient_a)
    assert task.kind == "unreachable"
    assert await signal_keys(world.db, task.id) == [f"unreachable:{failed}"]


async def test_no_dose_after_a_missed_dose_message_makes_a_task(world: World) -> None:
    clinic = await clinic_row(world)
    zone = ZoneInfo(clinic.time_zone)
    today = datetime.now(zone).date()
    evening = datetime.combine(today, time(20, 0), zone)
    morning = datetime.combine(today, time(8, 0), zone)
    await message_with(world, "missed_dose", "delivered", morning, tried=["sms"])
    assert await signal_missed_after_reminder(world.db, clinic, morning) == 0  # still open
    assert await signal_missed_after_reminder(world.db, clinic, evening) == 1
    assert await signal_missed_after_reminder(world.db, clinic, evening) == 0
    [task] = await tasks_of(world.db, world.patient_a)
    assert task.kind == "missed_doses"
    assert task.signalled_at == datetime.combine(today, time(17, 0), zone)  # closing time


async def clinic_row(world: World) -> Clinic:
    async with world.access_db.sessions() as session:
        found = await session.get(Clinic, world.clinic_a)
    assert found is not None
    return found


async def message_with(world: World, kind: str, state: str, at: datetime, tried: list[str]) -> str:
    """A message of patient A for `at`'s local day in `state`, tried on `tried`."""
    message_id = str(uuid.uuid4())
    day = at.astimezone(ZoneInfo("Asia/Shanghai")).date()
    async with world.db.transaction() as session:
        occurrence = Occurrence(
            patient_id=world.patient_a,
            kind=kind,
            local_date=day,
            slot=message_id[:8],
            due_at=at,
            expires_at=at + timedelta(hours=1),
            state="queued",
        )
        session.add(occurrence)
        await session.flush()
        session.add(
            Message(
                id=message_id,
                occurrence_id=occurrence.id,
                patient_id=world.patient_a,
                clinic_id=world.clinic_a,
                kind=kind,
                local_date=day,
                state=state,
                attempts=len(tried),
                expires_at=at + timedelta(hours=1),
                created_at=at,
                updated_at=at,
            )
        )
        await session.flush()
        for channel in tried:
            session.add(
                Attempt(
                    message_id=message_id,
                    channel=channel,
                    at=at,
                    outcome="permanent" if state == "failed" else "sent",
                )
            )
    return message_id
