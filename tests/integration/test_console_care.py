"""The console's follow-up pages over HTTP (issue 22): MI sessions logged from the patient
page (the target's status, a date in the future refused beside its field with what was
typed kept, a ruler left out), follow-up tasks ("Clinic tasks" and "My tasks" with the
overdue first, the due time at the clinic and the clinic number; claim and a status
change from the list; a task's page with its signals, an outcome and a note; a refused
move shown with the note kept), the patient's tasks on their page, and another clinic's
task or patient a 404 whose ids reach no API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

from sqlalchemy import select

from services.scheduler import patients
from services.scheduler.mi.schemas import ClinicTargetIn
from services.scheduler.mi.targets import set_clinic_target
from services.scheduler.tasks.models import Task
from services.scheduler.tasks.signals import raise_signal
from services.scheduler.timeplan import local_today
from shared.db import Database
from tests.integration.consoleutil import LOGIN, PASSWORD, World, csrf_of
from tests.integration.schedutil import ADMIN, context, patient_in
from tests.integration.test_console import Client, sign_in
from tests.integration.test_console import client as client  # the fixtures
from tests.integration.test_console import world as world

ZONE = "Asia/Shanghai"


def _error(html: str, element_id: str) -> str:
    found = re.search(rf'<p class="problem" id="{element_id}"[^>]*>(.*?)</p>', html, re.S)
    return unescape(re.sub(r"<[^>]+>", "", found.group(1))) if found else ""


async def _signal(
    db: Database, world: World, number: str, kind: str, ago: timedelta, clinic: int = 0
) -> int:
    async with db.transaction() as session:
        return await raise_signal(
            session,
            kind=kind,
            clinic_id=clinic or world.yx,
            patient_id=world.patient_ids.get(number, 0) or int(number),
            signal_key=f"test:{kind}:{number}",
            signalled_at=datetime.now(UTC) - ago,
            detail="alert 1",
        )


def _mi(token: str, **changes: str) -> dict[str, str]:
    form = {
        "held_on": "",
        "minutes": "20",
        "topic": "drug_use",
        "topic_note": "周末和朋友",
        "importance": "7",
        "confidence": "4",
        "plan": "周一来门诊，和哥哥谈谈",
        "_csrf_token": token,
    }
    return {**form, **changes}


async def test_an_mi_session_is_logged_and_counted_toward_the_target(
    world: World, client: Client, scheduler_db: Database, access_db: Database
) -> None:
    await set_clinic_target(
        context(scheduler_db, access_db), ADMIN, world.yx, ClinicTargetIn(sessions=2)
    )
    await sign_in(client)
    path = f"/clinics/{world.yx}/patients/{world.patient_ids['YX-001']}"
    shown = await client.get(path)
    assert "0 次（目标 2 次）" in shown.text
    token = csrf_of(shown.text)
    today = local_today(world.clock(), ZONE)

    future = (today + timedelta(days=2)).isoformat()
    refused = await client.post(f"{path}/mi-sessions", data=_mi(token, held_on=future))
    assert refused.status_code == 400
    assert "is in the future" in _error(refused.text, "mi-held-on-error")
    assert 'aria-describedby="mi-held-on-error"' in refused.text
    assert "周一来门诊，和哥哥谈谈" in refused.text  # the plan as typed
    assert 'name="importance" value="7" checked' in refused.text

    no_ruler = await client.post(
        f"{path}/mi-sessions", data=_mi(token, held_on=today.isoformat(), confidence="")
    )
    assert no_ruler.status_code == 400
    assert _error(no_ruler.text, "mi-confidence-error") == "请选择 0 到 10 之间的数字。"
    posted = [c for c in world.services.seen if c.startswith("POST") and "/mi-sessions" in c]
    assert len(posted) == 1  # the missing ruler was never sent

    logged = await client.post(
        f"{path}/mi-sessions", data=_mi(token, held_on=today.isoformat()), follow_redirects=False
    )
    assert logged.status_code == 303
    assert logged.headers["location"] == f"{path}#mi"
    page = (await client.get(path)).text
    section = page.split('id="mi"')[1].split("</section>")[0]
    assert "1 次（目标 2 次）" in section
    assert "吸毒问题: 周末和朋友" in section
    assert "7/10" in section
    assert "4/10" in section
    assert f"({LOGIN})" in section  # the provider: the signed-in person


async def test_clinic_tasks_overdue_first_claimed_and_moved_from_the_list(
    world: World, client: Client, scheduler_db: Database
) -> None:
    late = await _signal(scheduler_db, world, "YX-001", "dropout_risk", timedelta(days=2))
    soon = await _signal(scheduler_db, world, "YX-002", "urgent_need", timedelta(minutes=5))
    await sign_in(client)
    today = await client.get(f"/clinics/{world.yx}/today")
    assert f'href="/clinics/{world.yx}/tasks/mine"' in today.text
    listed = await client.get(f"/clinics/{world.yx}/tasks")
    assert listed.status_code == 200
    rows = re.findall(r'<tr id="task-(\d+)"', listed.text)
    assert rows == [str(late), str(soon)]  # the overdue first
    first = listed.text.split(f'id="task-{late}"')[1].split("</tr>")[0]
    assert "已逾期" in first
    assert "YX-001" in first
    assert "脱失风险" in first
    async with scheduler_db.sessions() as session:
        due = (await session.execute(select(Task.due_at).where(Task.id == soon))).scalar_one()
    assert due - datetime.now(UTC) < timedelta(hours=1)  # urgent: an hour after the signal
    local_due = due.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M")  # the clinic's
    assert local_due in listed.text.split(f'id="task-{soon}"')[1].split("</tr>")[0]

    mine = await client.get(f"/clinics/{world.yx}/tasks/mine")
    assert "<tr id=" not in mine.text  # nothing claimed yet
    world.services.seen.clear()
    unknown = await client.get(f"/clinics/{world.yx}/tasks", params={"status": "lost"})
    assert unknown.status_code == 400
    assert world.services.seen == []  # a hand-made filter value: no API call
    closed = await client.get(f"/clinics/{world.yx}/tasks", params={"status": "done"})
    assert "<tr id=" not in closed.text
    token = csrf_of(listed.text)
    claimed = await client.post(
        f"/clinics/{world.yx}/tasks/{soon}",
        data={"claim": "1", "next": f"/clinics/{world.yx}/tasks", "_csrf_token": token},
        follow_redirects=False,
    )
    assert claimed.status_code == 303
    assert claimed.headers["location"] == f"/clinics/{world.yx}/tasks"
    mine = await client.get(f"/clinics/{world.yx}/tasks/mine")
    assert re.findall(r'<tr id="task-(\d+)"', mine.text) == [str(soon)]
    assert f"({LOGIN})" in mine.text

    moved = await client.post(
        f"/clinics/{world.yx}/tasks/{soon}",
        data={
            "status": "in_progress",
            "next": f"/clinics/{world.yx}/tasks/mine",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert moved.headers["location"] == f"/clinics/{world.yx}/tasks/mine"
    row = (await client.get(f"/clinics/{world.yx}/tasks/mine")).text.split(f'id="task-{soon}"')[1]
    assert "<td>处理中</td>" in row.split("</tr>")[0]
    # An address of another site as `next` is not followed: back to the task's page.
    elsewhere = await client.post(
        f"/clinics/{world.yx}/tasks/{soon}",
        data={"status": "in_progress", "next": "//evil.example/", "_csrf_token": token},
        follow_redirects=False,
    )
    assert elsewhere.headers["location"] == f"/clinics/{world.yx}/tasks/{soon}"


async def test_a_tasks_page_takes_an_outcome_and_a_note_and_keeps_a_refused_note(
    world: World, client: Client, scheduler_db: Database
) -> None:
    task = await _signal(scheduler_db, world, "YX-001", "dropout_risk", timedelta(hours=2))
    await sign_in(client)
    path = f"/clinics/{world.yx}/tasks/{task}"
    shown = await client.get(path)
    assert shown.status_code == 200
    assert "alert 1" in shown.text  # the signal's detail
    assert f'href="/clinics/{world.yx}/patients/{world.patient_ids["YX-001"]}"' in shown.text
    token = csrf_of(shown.text)
    done = await client.post(
        path,
        data={
            "status": "done",
            "outcome": "reached",
            "note": "电话联系上，明天来门诊",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert done.headers["location"] == path
    after = (await client.get(path)).text
    assert 'id="task-status-now">已完成 · 已联系上<' in after
    assert "电话联系上，明天来门诊" in after
    assert f"({LOGIN})" in after.split('id="notes"')[1]

    again = await client.post(
        path, data={"status": "open", "note": "再打一次", "_csrf_token": token}
    )
    assert again.status_code == 400  # a closed task is reopened by an admin only
    assert _error(again.text, "task-problem")
    assert ">再打一次</textarea>" in again.text

    patient = await client.get(f"/clinics/{world.yx}/patients/{world.patient_ids['YX-001']}")
    section = patient.text.split('id="tasks"')[1].split("</section>")[0]
    assert f'href="/clinics/{world.yx}/tasks/{task}"' in section


async def test_another_clinics_tasks_and_patients_are_404s_whose_ids_reach_no_api(
    world: World, client: Client, scheduler_db: Database, access_db: Database
) -> None:
    theirs = await patients.enrol(
        context(scheduler_db, access_db), ADMIN, patient_in(world.km, "KM-0001")
    )
    task = await _signal(
        scheduler_db, world, str(theirs.id), "dropout_risk", timedelta(hours=1), world.km
    )
    await sign_in(client)
    token = csrf_of((await client.get(f"/clinics/{world.yx}/today")).text)
    world.services.seen.clear()
    km = f"/clinics/{world.km}"
    for path in (f"{km}/tasks", f"{km}/tasks/mine", f"{km}/tasks/{task}"):
        assert (await client.get(path)).status_code == 404, path
    for path, data in (
        (f"{km}/tasks/{task}", {"status": "done"}),
        (f"{km}/tasks/{task}", {"assign": "1", "assignee": LOGIN}),
        (f"{km}/patients/{theirs.id}/mi-sessions", _mi(token, held_on="2026-12-01")),
    ):
        posted = await client.post(path, data={**data, "_csrf_token": token})
        assert posted.status_code == 404, path
    assert world.services.seen == []  # the clinic is not this person's: no API call

    # Under this person's own clinic the scheduler answers 404 and nothing is changed.
    yx = f"/clinics/{world.yx}"
    assert (await client.get(f"{yx}/tasks/{task}")).status_code == 404
    posted = await client.post(f"{yx}/tasks/{task}", data={"status": "done", "_csrf_token": token})
    assert posted.status_code == 404
    assign = {"assign": "1", "assignee": LOGIN, "_csrf_token": token}
    assert (await client.post(f"{yx}/tasks/{task}", data=assign)).status_code == 404
    logged = await client.post(
        f"{yx}/patients/{theirs.id}/mi-sessions", data=_mi(token, held_on="2026-12-01")
    )
    assert logged.status_code == 404
    assert not [c for c in world.services.seen if c.startswith(("POST", "PATCH"))]
    listed = await client.get(f"{yx}/tasks")
    assert f'id="task-{task}"' not in listed.text


async def test_an_mi_session_typed_when_the_session_ended_comes_back_on_the_patient_page(
    world: World, client: Client
) -> None:
    await sign_in(client)
    path = f"/clinics/{world.yx}/patients/{world.patient_ids['YX-002']}"
    shown = await client.get(path)
    world.clock.advance(timedelta(minutes=31))  # idle too long while writing it up
    typed = _mi(csrf_of(shown.text), held_on=local_today(world.clock(), ZONE).isoformat())
    ended = await client.post(f"{path}/mi-sessions", data=typed, follow_redirects=False)
    assert ended.status_code == 303
    assert "kept=1" in ended.headers["location"]
    assert not [c for c in world.services.seen if c.startswith("POST")]  # nothing sent
    form = await client.get("/signin")
    await client.post(
        "/signin",
        data={
            "login": LOGIN,
            "password": PASSWORD,
            "next": path,
            "_csrf_token": csrf_of(form.text),
        },
        follow_redirects=False,
    )
    back = (await client.get(path)).text
    assert "已恢复到下面的表单中" in back
    assert ">周一来门诊，和哥哥谈谈</textarea>" in back
    assert 'name="importance" value="7" checked' in back


async def test_a_task_note_typed_when_the_session_ended_comes_back_on_the_tasks_page(
    world: World, client: Client, scheduler_db: Database
) -> None:
    task = await _signal(scheduler_db, world, "YX-002", "open_need", timedelta(hours=3))
    await sign_in(client)
    path = f"/clinics/{world.yx}/tasks/{task}"
    shown = await client.get(path)
    world.clock.advance(timedelta(minutes=31))
    typed = {"status": "done", "outcome": "referred", "note": "转介到社工", "_csrf_token": ""}
    ended = await client.post(
        path, data={**typed, "_csrf_token": csrf_of(shown.text)}, follow_redirects=False
    )
    assert "kept=1" in ended.headers["location"]
    form = await client.get("/signin")
    await client.post(
        "/signin",
        data={
            "login": LOGIN,
            "password": PASSWORD,
            "next": path,
            "_csrf_token": csrf_of(form.text),
        },
        follow_redirects=False,
    )
    back = (await client.get(path)).text
    assert "已恢复到下面的表单中" in back
    assert ">转介到社工</textarea>" in back
    assert '<option value="referred" selected>' in back
    assert not [c for c in world.services.seen if c.startswith(("POST", "PATCH"))]
