"""Signals make tasks (issue 22): each kind one task due by its rule, a redelivered signal
nothing extra, a second signal of the same kind joins the open task; on PostgreSQL and
SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.scheduler.tasks.rules import KINDS
from services.scheduler.tasks.signals import raise_signal
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
