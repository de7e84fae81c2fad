"""Changes to follow-up work from the console over HTTP (issue 22): a task given to a named
colleague of the clinic and to nobody again, a refused assignee named beside its field
(another clinic's task is a 404 reaching no API: test_console_care.py); an MI session
corrected by its author within the day (the form pre-filled, a refused date beside its
field), voided with a reason (required, beside its field), shown struck through with the
reason; a colleague's session offered no form and a forged post refused on the page; a
correction too late said so with what was typed kept, and a correction typed when the
session ended given back in its form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from services.scheduler.mi.models import MiSession
from services.scheduler.timeplan import local_today
from shared.access.staff import create_staff
from shared.access.tokens import Role
from shared.db import Database
from tests.integration.consoleutil import LOGIN, PASSWORD, World, csrf_of
from tests.integration.test_console import Client, sign_in
from tests.integration.test_console import client as client  # the fixtures
from tests.integration.test_console import world as world
from tests.integration.test_console_care import ZONE, _error, _mi, _signal


async def _colleague(access_db: Database, login: str, clinic: str, name: str) -> int:
    made = await create_staff(
        access_db,
        login=login,
        name=name,
        role=Role.COORDINATOR,
        clinics=[clinic],
        password=PASSWORD,
    )
    return made.id


def _assigned_to(html: str) -> str:
    found = re.search(r"<dt>负责人</dt><dd>(.*?)</dd>", html, re.S)
    return found.group(1) if found else ""


def _changes(world: World) -> list[str]:
    return [c for c in world.services.seen if c.startswith(("POST", "PATCH"))]


async def test_a_task_is_given_to_a_colleague_and_to_nobody_and_a_stranger_is_refused(
    world: World, client: Client, scheduler_db: Database, access_db: Database
) -> None:
    await _colleague(access_db, "wang.fang", "YX", "王芳")
    await _colleague(access_db, "zhao.lei", "KM", "赵磊")  # another clinic's coordinator
    task = await _signal(scheduler_db, world, "YX-001", "dropout_risk", timedelta(hours=2))
    await sign_in(client)
    path = f"/clinics/{world.yx}/tasks/{task}"
    shown = await client.get(path)
    form = shown.text.split('id="assign-form"')[1].split("</form>")[0]
    assert '<option value="wang.fang">王芳 (wang.fang)</option>' in form
    assert f'value="{LOGIN}"' in form
    assert "zhao.lei" not in form  # only this clinic's coordinators are offered
    token = csrf_of(shown.text)

    given = await client.post(
        path,
        data={"assign": "1", "assignee": "wang.fang", "_csrf_token": token},
        follow_redirects=False,
    )
    assert given.status_code == 303
    assert given.headers["location"] == path
    after = (await client.get(path)).text
    assert _assigned_to(after) == "王芳 (wang.fang)"
    assert '<option value="wang.fang" selected>' in after

    nobody = await client.post(
        path, data={"assign": "1", "assignee": "", "_csrf_token": token}, follow_redirects=False
    )
    assert nobody.status_code == 303
    after = (await client.get(path)).text
    assert _assigned_to(after) == "尚未指派"
    assert '<option value="" selected>' in after

    # A login typed into a forged form: the scheduler finds no such person at the clinic.
    stranger = await client.post(
        path, data={"assign": "1", "assignee": "zhao.lei", "_csrf_token": token}
    )
    assert stranger.status_code == 400
    assert "assignee: no active staff member of this clinic" in _error(
        stranger.text, "assignee-error"
    )
    assert 'aria-describedby="assignee-error"' in stranger.text
    assert _assigned_to(stranger.text) == "尚未指派"  # nothing changed

    # An admin holding it (the API takes any admin) is shown as its holder, not as nobody.
    await create_staff(
        access_db, login="chen.jing", name="陈静", role=Role.ADMIN, clinics=[], password=PASSWORD
    )
    admin = await client.post(
        path,
        data={"assign": "1", "assignee": "chen.jing", "_csrf_token": token},
        follow_redirects=False,
    )
    assert admin.status_code == 303
    held = (await client.get(path)).text
    assert '<option value="chen.jing" selected>陈静 (chen.jing)</option>' in held
    assert _assigned_to(held) == "陈静 (chen.jing)"

    done = await client.post(path, data={"status": "done", "_csrf_token": token})
    assert done.status_code == 200
    assert 'id="assign-form"' not in done.text  # a closed task is given to nobody any more


async def _logged(client: Client, world: World, number: str, **changes: str) -> tuple[str, int]:
    """The patient page's path and the id of a session logged there by the signed-in person."""
    path = f"/clinics/{world.yx}/patients/{world.patient_ids[number]}"
    token = csrf_of((await client.get(path)).text)
    today = local_today(world.clock(), ZONE).isoformat()
    logged = await client.post(
        f"{path}/mi-sessions", data=_mi(token, held_on=today, **changes), follow_redirects=False
    )
    assert logged.status_code == 303
    ids = re.findall(r'id="mi-edit-(\d+)"', (await client.get(path)).text)
    return path, int(ids[0])


async def test_an_mi_session_is_corrected_by_its_author_and_voided_with_a_reason(
    world: World, client: Client
) -> None:
    await sign_in(client)
    path, session = await _logged(client, world, "YX-001")
    shown = await client.get(path)
    edit = shown.text.split(f'id="mi-edit-{session}"')[1].split("</form>")[0]
    assert f'id="mi-edit-{session}-minutes" name="minutes"' in edit
    assert 'value="20"' in edit  # pre-filled from the session
    assert ">周一来门诊，和哥哥谈谈</textarea>" in edit
    assert 'name="importance" value="7" checked' in edit
    token = csrf_of(shown.text)
    today = local_today(world.clock(), ZONE)

    future = (today + timedelta(days=3)).isoformat()
    refused = await client.post(
        f"{path}/mi-sessions/{session}",
        data=_mi(token, held_on=future, plan="改为每周来两次"),
    )
    assert refused.status_code == 400
    assert "is in the future" in _error(refused.text, f"mi-edit-{session}-held-on-error")
    assert f'aria-describedby="mi-edit-{session}-held-on-error"' in refused.text
    assert ">改为每周来两次</textarea>" in refused.text  # as typed

    corrected = await client.post(
        f"{path}/mi-sessions/{session}",
        data=_mi(
            token, held_on=today.isoformat(), minutes="35", topic_note="", plan="改为每周来两次"
        ),
        follow_redirects=False,
    )
    assert corrected.status_code == 303
    assert corrected.headers["location"] == f"{path}#mi"
    section = (await client.get(path)).text.split('id="mi"')[1].split("</section>")[0]
    row = section.split("<tbody>")[1].split("</tr>")[0]
    assert "<td>35</td>" in row
    assert "改为每周来两次" in row
    assert "周末和朋友" not in row  # the topic's note cleared

    world.services.seen.clear()
    blank = await client.post(
        f"{path}/mi-sessions/{session}/void", data={"reason": " ", "_csrf_token": token}
    )
    assert blank.status_code == 400
    assert _error(blank.text, f"mi-void-{session}-reason-error") == (
        "请说明作废原因：原因会与记录一同保存。"
    )
    assert not [c for c in world.services.seen if c.startswith("POST")]  # nothing sent

    voided = await client.post(
        f"{path}/mi-sessions/{session}/void",
        data={"reason": "记错了病人", "_csrf_token": token},
        follow_redirects=False,
    )
    assert voided.status_code == 303
    page = (await client.get(path)).text
    section = page.split('id="mi"')[1].split("</section>")[0]
    assert '<tr class="voided">' in section  # struck through (console.css)
    assert "已作废： 记错了病人" in section.split(f'id="mi-void-reason-{session}"')[1]
    assert f'id="mi-edit-{session}"' not in section  # nothing more to change


async def test_a_colleagues_session_has_no_form_and_a_forged_post_is_refused_on_the_page(
    world: World, client: Client, scheduler_db: Database, access_db: Database
) -> None:
    colleague = await _colleague(access_db, "wang.fang", "YX", "王芳")
    patient = world.patient_ids["YX-002"]
    async with scheduler_db.transaction() as session:
        row = MiSession(
            patient_id=patient,
            clinic_id=world.yx,
            held_on=local_today(datetime.now(UTC), ZONE),
            provider_staff_id=colleague,
            provider_name="王芳 (wang.fang)",
            minutes=15,
            topic="family",
            importance=5,
            confidence=6,
            author="colleague001",
            author_staff_id=colleague,
            author_name="王芳 (wang.fang)",
            created_at=datetime.now(UTC),
        )
        session.add(row)
        await session.flush()
        theirs = row.id
    await sign_in(client)
    path = f"/clinics/{world.yx}/patients/{patient}"
    shown = await client.get(path)
    assert "王芳 (wang.fang)" in shown.text  # the session is listed
    assert f'id="mi-edit-{theirs}"' not in shown.text
    assert f'id="mi-void-{theirs}"' not in shown.text
    token = csrf_of(shown.text)
    today = local_today(world.clock(), ZONE).isoformat()
    forged = await client.post(
        f"{path}/mi-sessions/{theirs}", data=_mi(token, held_on=today, plan="我改的计划")
    )
    assert forged.status_code == 400
    assert "only the session's author or an admin" in _error(forged.text, "mi-change-error")
    assert ">我改的计划</textarea>" in forged.text  # what was typed, not lost
    async with scheduler_db.sessions() as session:
        kept = await session.get(MiSession, theirs)
        assert kept is not None
        assert (kept.minutes, kept.plan, kept.updated_at) == (15, None, None)


async def test_a_correction_too_late_is_said_and_one_typed_when_the_session_ended_comes_back(
    world: World, client: Client, scheduler_db: Database
) -> None:
    await sign_in(client)
    path, session = await _logged(client, world, "YX-002")
    shown = await client.get(path)
    token = csrf_of(shown.text)
    today = local_today(world.clock(), ZONE).isoformat()
    async with scheduler_db.transaction() as db_session:  # logged a day and more ago
        await db_session.execute(
            update(MiSession)
            .where(MiSession.id == session)
            .values(created_at=datetime.now(UTC) - timedelta(hours=25))
        )
    late = await client.post(
        f"{path}/mi-sessions/{session}", data=_mi(token, held_on=today, plan="太迟的更正")
    )
    assert late.status_code == 400
    assert "more than 24 hours ago" in _error(late.text, "mi-change-error")
    assert ">太迟的更正</textarea>" in late.text
    async with scheduler_db.transaction() as db_session:
        await db_session.execute(
            update(MiSession).where(MiSession.id == session).values(created_at=datetime.now(UTC))
        )

    world.clock.advance(timedelta(minutes=31))  # idle too long while writing it up
    ended = await client.post(
        f"{path}/mi-sessions/{session}",
        data=_mi(token, held_on=today, plan="会话结束时写的更正"),
        follow_redirects=False,
    )
    assert "kept=1" in ended.headers["location"]
    await sign_in(client)  # the same person again: the kept form comes back
    back = (await client.get(path)).text
    assert "已恢复到下面的表单中" in back
    edit = back.split(f'id="mi-edit-{session}"')[1].split("</form>")[0]
    assert ">会话结束时写的更正</textarea>" in edit
    assert f'id="mi-change-{session}" open' in back
    async with scheduler_db.sessions() as db_session:
        plan = await db_session.scalar(select(MiSession.plan).where(MiSession.id == session))
    assert plan == "周一来门诊，和哥哥谈谈"  # nothing sent meanwhile
