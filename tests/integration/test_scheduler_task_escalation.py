"""Overdue tasks escalate to the clinic's lead (issue 22): one text per task through the
SMS channel, naming the task, its kind and the clinic's code and nothing of the patient;
exactly once with two workers racing; a failed text kept with its reason and retried.
And the assignment tick: round robin among the clinic's coordinators, or left to pick up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from services.scheduler.models import Patient
from services.scheduler.tasks.assign import assign_pending
from services.scheduler.tasks.escalation import TaskEscalation
from services.scheduler.tasks.models import Task, TaskSettings
from services.scheduler.tasks.signals import raise_signal
from shared.access.clinics import ClinicPatch, update_clinic
from shared.access.tokens import Role
from shared.channels import Channel, FailureKind, OutboundMessage, SendFailed, SendResult
from shared.channels.console import ConsoleChannel
from tests.conftest import Backends
from tests.integration.schedutil import ADMIN
from tests.integration.taskutil import World, either_world, overdue_task, staff, tasks_of

LEAD_PHONE = "+8613912345678"
ON_CALL = "+8613987654321"


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


class Refusing:
    """A provider that refuses every text (the edge of the world: an SMS vendor)."""

    code = "sms"

    async def send(self, message: OutboundMessage) -> SendResult:
        raise SendFailed(FailureKind.PERMANENT, "provider said no", code="E1")

    async def aclose(self) -> None:
        return None


def escalation(world: World, sms: Channel | None) -> TaskEscalation:
    return TaskEscalation(world.db, world.access_db, sms, world.ctx.cipher)


async def set_lead(world: World, lead_id: int | None) -> None:
    async with world.db.transaction() as session:
        session.add(
            TaskSettings(
                clinic_id=world.clinic_a,
                due_minutes={},
                assignment="pick_up",
                lead_staff_id=lead_id,
                updated_at=datetime.now(UTC),
            )
        )


async def test_an_overdue_task_texts_the_lead_once_naming_no_patient(world: World) -> None:
    lead = await staff(world, "lead.wang", Role.COORDINATOR, ("YX",), phone=LEAD_PHONE)
    await set_lead(world, lead.id)
    overdue = await overdue_task(world, "need:1")
    closed = await overdue_task(world, "alert:2", kind="dropout_risk")
    async with world.db.transaction() as session:  # done in time, or not due yet: left alone
        await session.execute(update(Task).where(Task.id == closed).values(status="done"))
        await raise_signal(
            session,
            kind="open_need",
            clinic_id=world.clinic_a,
            patient_id=world.patient_a,
            signal_key="need:3",
            signalled_at=datetime.now(UTC),
        )
    sms = ConsoleChannel("sms")
    now = datetime.now(UTC)
    done = await escalation(world, sms).run(now)
    assert done.texted == [overdue]
    assert await escalation(world, sms).run(now + timedelta(hours=1)) == type(done)()
    [sent] = sms.sent
    assert sent.address == LEAD_PHONE
    for named in (f"#{overdue}", "urgent_need", "YX"):
        assert named in sent.text
    async with world.db.sessions() as session:
        patient = await session.get(Patient, world.patient_a)
    assert patient is not None
    for private in (patient.display_name, patient.clinic_number, "+86138"):
        assert private not in sent.text
    task = next(t for t in await tasks_of(world.db, world.patient_a) if t.id == overdue)
    assert task.escalated_at == now
    assert (task.escalation_attempts, task.escalation_error) == (0, None)


async def test_two_workers_racing_text_each_task_exactly_once(world: World) -> None:
    await update_clinic(world.access_db, ADMIN, world.clinic_a, ClinicPatch(alert_phone=ON_CALL))
    ids = [
        await overdue_task(world, "need:1"),
        await overdue_task(world, "need:2", world.patient_a2),
        await overdue_task(world, "alert:3", kind="dropout_risk"),
    ]
    sms = ConsoleChannel("sms")
    now = datetime.now(UTC)
    first, second = escalation(world, sms), escalation(world, sms)
    runs = await asyncio.gather(first.run(now), second.run(now), first.run(now))
    assert sorted(i for run in runs for i in run.texted) == sorted(ids)
    assert sorted(m.message_id for m in sms.sent) == sorted(f"task-escalation-{i}" for i in ids)
    assert {m.address for m in sms.sent} == {ON_CALL}  # no lead: the clinic's on-call phone


async def test_a_failed_text_is_kept_with_its_reason_and_retried(world: World) -> None:
    task_id = await overdue_task(world, "need:1")
    now = datetime.now(UTC)
    # No lead and no clinic alert phone: visible on the task, not dropped.
    done = await escalation(world, ConsoleChannel("sms")).run(now)
    assert done.failed == {task_id: "no lead with a phone and no clinic alert phone"}
    await update_clinic(world.access_db, ADMIN, world.clinic_a, ClinicPatch(alert_phone=ON_CALL))
    assert (await escalation(world, ConsoleChannel("sms")).run(now)).texted == []  # waits
    later = now + timedelta(minutes=6)
    refused = await escalation(world, Refusing()).run(later)
    assert refused.failed == {task_id: "SMS: provider said no"}
    [task] = await tasks_of(world.db, world.patient_a)
    assert (task.escalated_at, task.escalation_attempts) == (None, 2)
    assert task.escalation_retry_at == later + timedelta(minutes=10)  # the wait doubles
    sms = ConsoleChannel("sms")
    assert (await escalation(world, sms).run(later + timedelta(minutes=11))).texted == [task_id]
    [task] = await tasks_of(world.db, world.patient_a)
    assert (task.escalation_error, task.escalated_at) == (None, later + timedelta(minutes=11))
    assert [m.address for m in sms.sent] == [ON_CALL]


async def test_no_sms_channel_is_a_visible_failure(world: World) -> None:
    task_id = await overdue_task(world, "need:1")
    done = await escalation(world, None).run(datetime.now(UTC))
    assert done.failed == {task_id: "no SMS channel is configured"}


async def test_round_robin_among_coordinators_and_pick_up_leaves_tasks_free(
    world: World,
) -> None:
    first = await staff(world, "li.na", Role.COORDINATOR, ("YX",))
    second = await staff(world, "zhao.lei", Role.COORDINATOR, ("YX",))
    await staff(world, "km.only", Role.COORDINATOR, ("KM",))  # another clinic's
    await staff(world, "boss", Role.ADMIN)  # admins are not in the round robin
    async with world.db.transaction() as session:
        session.add(
            TaskSettings(
                clinic_id=world.clinic_a,
                due_minutes={},
                assignment="round_robin",
                updated_at=datetime.now(UTC),
            )
        )
    ids = [
        await overdue_task(world, "need:1"),
        await overdue_task(world, "need:2", world.patient_a2),
        await overdue_task(world, "alert:3", kind="dropout_risk"),
    ]
    b_task = await overdue_task(world, "b:1", world.patient_b)  # clinic B: pick up
    now = datetime.now(UTC)
    assert await assign_pending(world.db, world.access_db, now) == 3
    assert await assign_pending(world.db, world.access_db, now) == 0  # once
    got = {
        t.id: (t.assignee_staff_id, t.assignee_name)
        for t in await tasks_of(world.db, world.patient_a)
        + await tasks_of(world.db, world.patient_a2)
    }
    assert got[ids[0]] == (first.id, "Li.Na (li.na)")
    assert got[ids[1]] == (second.id, "Zhao.Lei (zhao.lei)")
    assert got[ids[2]] == (first.id, "Li.Na (li.na)")  # the turn comes round again
    [b] = await tasks_of(world.db, world.patient_b)
    assert (b.id, b.assignee_staff_id, b.assign_pending) == (b_task, None, False)
