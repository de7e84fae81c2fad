"""The task routes (issue 22): my tasks, a clinic's and a patient's; claiming, moving and
noting a task; the clinic's settings; the time-to-contact report on known figures; clinic
isolation (a coordinator of A never sees or changes B's tasks: 404) and 4xx reasons."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import update

from services.scheduler.tasks.models import Task
from services.scheduler.worker import setup
from shared.access.staff import mint_staff_token
from shared.access.tokens import Role
from shared.bus import BusKeys, Inbox, Publisher, StreamConsumer
from shared.db import Database
from shared.messages import NeedRaised, RatingGiven, UrgentNeedRaised
from shared.service import ServiceDefinition
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.busutil import consume_until
from tests.integration.taskutil import World, make_world, overdue_task, staff, tasks_of

Client = AsyncTestClient[Litestar]
Headers = dict[str, str]


@dataclass
class Api:
    client: Client
    world: World
    li: Headers  # coordinator of YX, signed in (a staff token)
    zhao: Headers  # another coordinator of YX, signed in
    km: Headers  # coordinator of KM, signed in
    admin: Headers  # an admin's CLI token
    cli: Headers  # a YX coordinator's CLI token: names no person
    researcher: Headers


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api(
    app_settings: Settings,
    scheduler_db: Database,
    access_db: Database,
    make_token: TokenFactory,
) -> AsyncIterator[Api]:
    world = await make_world(scheduler_db, access_db)
    signed_in = []
    for login, clinic in (("li.na", "YX"), ("zhao.lei", "YX"), ("km.wu", "KM")):
        person = await staff(world, login, Role.COORDINATOR, (clinic,))
        signed_in.append(bearer(await mint_staff_token(access_db, person, timedelta(hours=1))))
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        yield Api(
            client,
            world,
            li=signed_in[0],
            zhao=signed_in[1],
            km=signed_in[2],
            admin=bearer(await make_token("admin")),
            cli=bearer(await make_token("coordinator", ["YX"])),
            researcher=bearer(await make_token("researcher")),
        )


async def test_claim_work_and_close_a_task_with_notes(api: Api) -> None:
    c, w = api.client, api.world
    task_id = await overdue_task(w, "need:1")
    other = await overdue_task(w, "need:2", w.patient_a2)

    listed = await c.get("/api/v1/tasks", params={"clinic_id": w.clinic_a}, headers=api.li)
    assert listed.status_code == 200, listed.text
    assert [t["id"] for t in listed.json()] == [task_id, other]
    assert all(t["overdue"] for t in listed.json())
    assert (await c.get("/api/v1/tasks?mine=true", headers=api.li)).json() == []

    claimed = await c.patch(f"/api/v1/tasks/{task_id}", json={"claim": True}, headers=api.li)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["assignee"] == "Li.Na (li.na)"
    assert claimed.json()["first_contact_at"] is None  # claiming is not a contact
    taken = await c.patch(f"/api/v1/tasks/{task_id}", json={"claim": True}, headers=api.zhao)
    assert taken.status_code == 409
    assert "assigned to Li.Na (li.na)" in taken.json()["detail"]
    mine = await c.get("/api/v1/tasks?mine=true", headers=api.li)
    assert [t["id"] for t in mine.json()] == [task_id]

    started = await c.patch(
        f"/api/v1/tasks/{task_id}", json={"status": "in_progress"}, headers=api.li
    )
    assert started.json()["status"] == "in_progress"
    assert started.json()["first_contact_at"] is not None
    noted = await c.post(
        f"/api/v1/tasks/{task_id}/notes",
        json={"text": "Called; she will come tomorrow.", "outcome": "reached"},
        headers=api.li,
    )
    assert noted.status_code == 201, noted.text
    assert noted.json()["author_name"] == "Li.Na (li.na)"
    done = await c.patch(f"/api/v1/tasks/{task_id}", json={"status": "done"}, headers=api.li)
    detail = done.json()
    assert (detail["status"], detail["outcome"], detail["overdue"]) == ("done", "reached", False)
    assert detail["closed_at"] is not None
    assert [s["signal_key"] for s in detail["signals"]] == ["need:1"]
    assert [n["text"] for n in detail["notes"]] == ["Called; she will come tomorrow."]

    reopen = await c.patch(f"/api/v1/tasks/{task_id}", json={"status": "open"}, headers=api.li)
    assert reopen.status_code == 409
    assert "only an admin may reopen" in reopen.json()["detail"]
    reopened = await c.patch(f"/api/v1/tasks/{task_id}", json={"status": "open"}, headers=api.admin)
    assert reopened.json()["status"] == "open"

    given = await c.patch(f"/api/v1/tasks/{other}", json={"assignee": "zhao.lei"}, headers=api.li)
    assert given.json()["assignee"] == "Zhao.Lei (zhao.lei)"
    mine = await c.get("/api/v1/tasks?mine=true&overdue=true", headers=api.zhao)
    assert [t["id"] for t in mine.json()] == [other]
    freed = await c.patch(f"/api/v1/tasks/{other}", json={"assignee": None}, headers=api.li)
    assert freed.json()["assignee"] is None
    by_patient = await c.get("/api/v1/tasks", params={"patient_id": w.patient_a2}, headers=api.li)
    assert [t["id"] for t in by_patient.json()] == [other]


async def test_a_coordinator_of_another_clinic_never_sees_or_changes_them(api: Api) -> None:
    c, w = api.client, api.world
    a_task = await overdue_task(w, "need:1")
    b_task = await overdue_task(w, "need:2", w.patient_b)
    everything = await c.get("/api/v1/tasks", headers=api.km)
    assert [t["id"] for t in everything.json()] == [b_task]
    for method, path, body in (
        ("GET", f"/api/v1/tasks/{a_task}", None),
        ("PATCH", f"/api/v1/tasks/{a_task}", {"status": "done"}),
        ("POST", f"/api/v1/tasks/{a_task}/notes", {"text": "x"}),
        ("GET", f"/api/v1/tasks?clinic_id={w.clinic_a}", None),
        ("GET", f"/api/v1/tasks?patient_id={w.patient_a}", None),
        ("GET", f"/api/v1/clinics/{w.clinic_a}/task-settings", None),
        ("GET", f"/api/v1/clinics/{w.clinic_a}/reports/time-to-contact", None),
    ):
        answer = await c.request(method, path, json=body, headers=api.km)
        assert answer.status_code == 404, (method, path, answer.text)
    detail = await c.get(f"/api/v1/tasks/{a_task}", headers=api.li)
    assert detail.json()["status"] == "open"  # unchanged
    assert detail.json()["notes"] == []
    assert (await c.get("/api/v1/tasks", headers=api.researcher)).status_code == 403


async def test_bad_input_is_a_4xx_naming_the_field(api: Api) -> None:
    c, w = api.client, api.world
    task_id = await overdue_task(w, "need:1")
    cases: list[tuple[str, str, object, Headers, str]] = [
        ("PATCH", f"/api/v1/tasks/{task_id}", {"status": "lost"}, api.li, "status"),
        ("PATCH", f"/api/v1/tasks/{task_id}", {"colour": "red"}, api.li, "colour"),
        ("PATCH", f"/api/v1/tasks/{task_id}", {"claim": True}, api.cli, "claim"),
        ("PATCH", f"/api/v1/tasks/{task_id}", {"assignee": "km.wu"}, api.li, "assignee"),
        (
            "PATCH",
            f"/api/v1/tasks/{task_id}",
            {"claim": True, "assignee": "li.na"},
            api.li,
            "claim",
        ),
        ("POST", f"/api/v1/tasks/{task_id}/notes", {"text": ""}, api.li, "text"),
        ("GET", "/api/v1/tasks?mine=true", None, api.cli, "mine"),
        ("GET", "/api/v1/tasks?limit=0", None, api.li, "limit"),
        ("GET", "/api/v1/tasks?kind=gossip", None, api.li, "kind"),
        (
            "PUT",
            f"/api/v1/clinics/{w.clinic_a}/task-settings",
            {"assignment": "fixed"},
            api.admin,
            "fixed_assignee",
        ),
        (
            "PUT",
            f"/api/v1/clinics/{w.clinic_a}/task-settings",
            {"due_minutes": {"urgent_need": 1}},
            api.admin,
            "urgent_need",
        ),
        (
            "PUT",
            f"/api/v1/clinics/{w.clinic_a}/task-settings",
            {"lead": "km.wu"},
            api.admin,
            "lead",
        ),
        (
            "GET",
            f"/api/v1/clinics/{w.clinic_a}/reports/time-to-contact"
            "?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
            None,
            api.li,
            "from",
        ),
        (
            "GET",
            f"/api/v1/clinics/{w.clinic_a}/reports/time-to-contact?to=yesterday",
            None,
            api.li,
            "to",
        ),
    ]
    for method, path, body, headers, field in cases:
        answer = await c.request(method, path, json=body, headers=headers)
        assert answer.status_code == 400, (path, body, answer.text)
        assert field in answer.text, (path, body, answer.text)
    put = await c.put(f"/api/v1/clinics/{w.clinic_a}/task-settings", json={}, headers=api.li)
    assert put.status_code == 403  # settings are an admin's


async def test_settings_set_due_times_rule_and_lead(api: Api) -> None:
    c, w = api.client, api.world
    path = f"/api/v1/clinics/{w.clinic_a}/task-settings"
    defaults = (await c.get(path, headers=api.li)).json()
    assert defaults["assignment"] == "pick_up"
    assert defaults["updated_at"] is None
    assert defaults["due_minutes"]["urgent_need"] == 60
    assert defaults["due_minutes"]["dropout_risk"] is None  # the end of the local day
    put = await c.put(
        path,
        json={"assignment": "round_robin", "lead": "li.na", "due_minutes": {"urgent_need": 30}},
        headers=api.admin,
    )
    assert put.status_code == 200, put.text
    settings = (await c.get(path, headers=api.li)).json()
    assert (settings["assignment"], settings["lead"]) == ("round_robin", "Li.Na (li.na)")
    assert settings["due_minutes"]["urgent_need"] == 30
    assert settings["due_minutes"]["open_need"] == 3 * 24 * 60
    task_id = await overdue_task(w, "need:1")
    task = (await c.get(f"/api/v1/tasks/{task_id}", headers=api.li)).json()
    due = datetime.fromisoformat(task["due_at"]) - datetime.fromisoformat(task["signalled_at"])
    assert due == timedelta(minutes=30)


async def test_time_to_contact_report_on_known_figures(api: Api) -> None:
    c, w = api.client, api.world
    start = datetime(2026, 11, 1, tzinfo=UTC)
    # Five dropout tasks first contacted 1, 2, 3, 4 and 10 hours after their signal, one
    # signalled before the period, and (made last: it stays open) one never contacted.
    rows: list[tuple[datetime, int | None]] = [
        (start + timedelta(days=n), hours) for n, hours in enumerate([1, 2, 3, 4, 10])
    ]
    rows += [(start - timedelta(days=2), 1), (start + timedelta(days=6), None)]
    for n, (signalled, hours) in enumerate(rows):
        task_id = await overdue_task(w, f"alert:{n}", kind="dropout_risk")
        async with w.db.transaction() as session:
            await session.execute(
                update(Task)
                .where(Task.id == task_id)
                .values(
                    signalled_at=signalled,
                    due_at=signalled + timedelta(hours=12),
                    status="open" if hours is None else "done",
                    first_contact_at=None if hours is None else signalled + timedelta(hours=hours),
                )
            )
    answer = await c.get(
        f"/api/v1/clinics/{w.clinic_a}/reports/time-to-contact",
        params={"from": "2026-11-01T00:00:00+00:00", "to": "2026-12-01T00:00:00+08:00"},
        headers=api.li,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["from"] == "2026-11-01T00:00:00Z"
    kinds = {k["kind"]: k for k in body["kinds"]}
    assert kinds["dropout_risk"] == {
        "kind": "dropout_risk",
        "tasks": 6,
        "contacted": 5,
        "median_hours": 3.0,
        "p90_hours": 7.6,  # between 4 and 10, nine tenths of the way past the 4th
        "still_open": 1,
        "overdue": 1,
    }
    assert kinds["urgent_need"]["tasks"] == 0
    assert kinds["urgent_need"]["median_hours"] is None


async def test_the_worker_turns_bus_events_into_tasks_once(
    app_settings: Settings,
    scheduler_db: Database,
    access_db: Database,
    redis: Redis,
    scheduler: ServiceDefinition,
) -> None:
    """Through the real bus and the worker's own handler table (services/scheduler/worker.py):
    an urgent need and its NeedRaised twin, published twice, make one task; two low ratings
    make another; the ratings read model still gets both."""
    world = await make_world(scheduler_db, access_db)
    parts = await setup(scheduler_db, app_settings)
    keys = BusKeys(app_settings.bus.bus_prefix)
    pid, cid = world.patient_a, world.clinic_a
    urgent = UrgentNeedRaised(need_id=9, patient_id=pid, clinic_id=cid, category="medical")
    twin = NeedRaised(need_id=9, patient_id=pid, clinic_id=cid, category="medical", urgent=True)
    ratings = [RatingGiven(patient_id=pid, clinic_id=cid, rating=n) for n in (2, 1)]
    publisher = Publisher(redis, keys)
    await publisher.publish([urgent, twin, urgent, *ratings])
    handled = (UrgentNeedRaised, NeedRaised, RatingGiven)
    consumer = StreamConsumer(
        redis,
        keys,
        group="scheduler",
        consumer="tasks-test",
        handlers={kind: parts.handlers[kind] for kind in handled},
        inbox=Inbox(scheduler_db, scheduler.processed_model),
        block_ms=50,
    )

    async def both_tasks() -> bool:
        return len(await tasks_of(scheduler_db, pid)) == 2

    try:
        await consume_until(consumer, both_tasks)
    finally:
        assert parts.aclose is not None
        await parts.aclose()
    assert sorted(t.kind for t in await tasks_of(scheduler_db, pid)) == [
        "low_ratings",
        "urgent_need",
    ]
    assert {job.name for job in parts.jobs} >= {"task-facts", "task-upkeep"}
