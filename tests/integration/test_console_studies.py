"""The console's study pages over HTTP (issue 21): the clinic's due questionnaires (overdue
first), a questionnaire administered by staff (questions in the staff member's language, an
answer off its scale refused beside its question with the answers kept, then recorded and
scored on the patient page), the patient's signed link instead, what was typed kept across
an ended session, printed handouts for the routine-care arm (the PDF, "record as given",
a refusal shown), another clinic's patient a 404 whose ids reach no API, and the patient
page still one scheduler call."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest

from services.scheduler import patients
from shared.db import Database
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.integration.consoleutil import LOGIN, PASSWORD, World, console_world, csrf_of
from tests.integration.schedutil import ADMIN, context, patient_in
from tests.integration.studyconsole import MOTIVATION, Plan, answers, study_setup
from tests.integration.test_console import Client, sign_in
from tests.integration.test_console import client as client  # the fixture
from tests.integration.test_content_handouts import pdf_text

PUBLIC = "https://mmt.example.cn"


@pytest.fixture
async def world(
    monkeypatch: pytest.MonkeyPatch,
    app_settings: Settings,
    access_db: Database,
    scheduler_db: Database,
    feedback_db: Database,
    content_db: Database,
    make_token: TokenFactory,
) -> AsyncIterator[World]:
    monkeypatch.setenv("SCHEDULER_PUBLIC_URL", PUBLIC)  # self-assessment links
    async with console_world(app_settings, access_db, feedback_db, make_token) as made:
        yield made


@pytest.fixture
async def plan(
    world: World,
    scheduler_db: Database,
    access_db: Database,
    content_db: Database,
    tmp_path: Path,
) -> Plan:
    return await study_setup(world, scheduler_db, access_db, content_db, tmp_path)


def _error(html: str, element_id: str) -> str:
    found = re.search(rf'<p class="problem" id="{element_id}"[^>]*>(.*?)</p>', html, re.S)
    return unescape(re.sub(r"<[^>]+>", "", found.group(1))) if found else ""


def _checked(html: str, question: str) -> str:
    found = re.search(rf'name="q\.{question}" value="([^"]*)" checked', html)
    return found.group(1) if found else ""


async def test_the_due_list_puts_the_overdue_first_and_links_the_form(
    world: World, client: Client, plan: Plan
) -> None:
    await sign_in(client)
    today = await client.get(f"/clinics/{world.yx}/today")
    assert f'href="/clinics/{world.yx}/assessments"' in today.text  # one click from Today
    shown = await client.get(f"/clinics/{world.yx}/assessments")
    assert shown.status_code == 200
    rows = re.findall(r'<tr class="plan-(\w+)" id="due-(\d+)">', shown.text)
    assert rows == [("overdue", str(plan.overdue_id)), ("due", str(plan.today_id))]
    assert "治疗动机问卷" in shown.text  # the questionnaire's title in the staff's language
    assert "YX-001" in shown.text
    assert "已逾期" in shown.text
    form = (
        f"/clinics/{world.yx}/patients/{world.patient_ids['YX-001']}/assessments/{MOTIVATION}"
        f"?time_point=baseline&amp;due={plan.overdue_id}"
    )
    assert form in shown.text
    assert str(plan.later_id) not in re.findall(r'id="due-(\d+)"', shown.text)  # 3 months on


async def test_staff_administer_a_questionnaire_a_wrong_answer_shown_beside_its_question(
    world: World, client: Client, plan: Plan
) -> None:
    await sign_in(client)
    pid = world.patient_ids["YX-001"]
    path = f"/clinics/{world.yx}/patients/{pid}/assessments/{MOTIVATION}"
    shown = await client.get(path, params={"time_point": "baseline", "due": plan.overdue_id})
    assert shown.status_code == 200
    assert "使用毒品给我的生活带来了麻烦。" in shown.text  # the question in Chinese
    assert "非常同意" in shown.text  # the scale's answers
    assert 'name="time_point" value="baseline"' in shown.text
    client.cookies.set("console_lang", "en")
    english = await client.get(path, params={"time_point": "baseline"})
    assert "Using drugs has caused problems in my life." in english.text
    client.cookies.set("console_lang", "zh-CN")

    token = csrf_of(shown.text)
    typed = {
        **answers("4", **{"tr-2": "9"}),  # 9 is not on the 1-5 scale
        "time_point": "baseline",
        "assessed_by": "李娜",
        "assessed_at": (world.clock() - timedelta(hours=1) + timedelta(hours=8)).strftime(
            "%Y-%m-%dT%H:%M"
        ),
        "_csrf_token": token,
    }
    refused = await client.post(path, data=typed)
    assert refused.status_code == 400
    assert "'9' is not one of 1, 2, 3, 4, 5" in _error(refused.text, "q-tr-2-error")
    assert 'aria-describedby="q-tr-2-error"' in refused.text
    assert _error(refused.text, "q-pr-1-error") == ""  # only the question named
    assert _checked(refused.text, "pr-1") == "4"  # what was chosen is kept
    assert 'value="李娜"' in refused.text

    future = {**typed, "q.tr-2": "4", "assessed_at": "2099-01-01T10:00"}
    too_late = await client.post(path, data=future)
    assert too_late.status_code == 400
    assert _error(too_late.text, "assessed-at-error")

    recorded = await client.post(path, data={**typed, "q.tr-2": "4"}, follow_redirects=False)
    assert recorded.status_code == 303
    assert recorded.headers["location"].endswith(f"/patients/{pid}#assessments")
    patient = (await client.get(f"/clinics/{world.yx}/patients/{pid}")).text
    section = patient.split('id="assessments"')[1].split("</section>")[0]
    assert "问题认识: <strong>36</strong>" in section  # pr-5 reverse-scored: (4*4+2)/5*10
    assert "李娜 (由工作人员)" in section
    assert '<tr class="plan-done">' in section
    due = (await client.get(f"/clinics/{world.yx}/assessments")).text
    assert f'id="due-{plan.overdue_id}"' not in due

    # Any questionnaire of the clinic's, outside the plan: chosen from the patient's page.
    chooser = f"/clinics/{world.yx}/patients/{pid}/assessments"
    assert f'href="{chooser}"' in patient
    offered = await client.get(chooser)
    assert offered.status_code == 200
    assert f'<a href="{chooser}/hiv-knowledge">' in offered.text
    assert "艾滋病知识问卷" in offered.text


async def test_the_patient_can_be_given_a_signed_link_instead(
    world: World, client: Client, plan: Plan
) -> None:
    await sign_in(client)
    pid = world.patient_ids["YX-001"]
    path = f"/clinics/{world.yx}/patients/{pid}/assessments/{MOTIVATION}"
    shown = await client.get(path, params={"time_point": "baseline", "due": plan.overdue_id})
    link = await client.post(
        f"{path}/link", data={"due_id": str(plan.overdue_id), "_csrf_token": csrf_of(shown.text)}
    )
    assert link.status_code == 200
    assert "<svg" in link.text
    found = re.search(r'id="self-link">([^<]+)<', link.text)
    assert found
    assert found.group(1).startswith(PUBLIC)

    # Another patient's time point under this patient: not theirs, a 404.
    other = await client.post(
        f"{path}/link", data={"due_id": str(plan.today_id), "_csrf_token": csrf_of(shown.text)}
    )
    assert other.status_code == 404


async def test_answers_typed_when_the_session_ended_come_back_in_the_form(
    world: World, client: Client, plan: Plan
) -> None:
    await sign_in(client)
    pid = world.patient_ids["YX-001"]
    path = f"/clinics/{world.yx}/patients/{pid}/assessments/{MOTIVATION}"
    shown = await client.get(path, params={"time_point": "baseline"})
    world.clock.advance(timedelta(minutes=31))  # idle too long while asking the questions
    typed = {**answers("2"), "time_point": "baseline", "_csrf_token": csrf_of(shown.text)}
    ended = await client.post(path, data=typed, follow_redirects=False)
    assert ended.status_code == 303
    assert "kept=1" in ended.headers["location"]
    assert not [c for c in world.services.seen if c.startswith("POST")]  # nothing sent
    form = await client.get("/signin")
    signed = await client.post(
        "/signin",
        data={
            "login": LOGIN,
            "password": PASSWORD,
            "next": path,
            "_csrf_token": csrf_of(form.text),
        },
        follow_redirects=False,
    )
    assert signed.headers["location"] == path
    back = await client.get(path)
    assert "已恢复到下面的表单中" in back.text
    assert _checked(back.text, "dh-3") == "2"
    assert 'name="time_point" value="baseline"' in back.text


async def test_handouts_print_and_are_recorded_for_the_routine_care_arm(
    world: World, client: Client, plan: Plan
) -> None:
    await sign_in(client)
    pid, theirs = world.patient_ids["YX-001"], world.patient_ids["YX-002"]
    page = await client.get(f"/clinics/{world.yx}/patients/{pid}")
    assert 'id="handouts"' in page.text
    assert "每天按时服药" in page.text  # the track's lessons, to print
    assert 'id="handouts"' not in (await client.get(f"/clinics/{world.yx}/patients/{theirs}")).text

    printed = await client.get(
        f"/clinics/{world.yx}/handouts/core/1/daily-dose", params={"language": "zh-CN"}
    )
    assert printed.status_code == 200
    assert printed.headers["content-type"] == "application/pdf"
    assert printed.content.startswith(b"%PDF")
    assert "Clinic YX" in pdf_text(printed.content)  # the clinic's name on the page
    missing = await client.get(f"/clinics/{world.yx}/handouts/core/1/no-such-lesson")
    assert missing.status_code == 404

    token = csrf_of(page.text)
    given = await client.post(
        f"/clinics/{world.yx}/patients/{pid}/handouts",
        data={"track": "core", "lesson_key": "daily-dose", "version": "1", "_csrf_token": token},
        follow_redirects=False,
    )
    assert given.status_code == 303
    after = (await client.get(f"/clinics/{world.yx}/patients/{pid}")).text
    section = after.split('id="handouts"')[1].split("</section>")[0]
    given_rows = section.split("<caption>")[1].split("</table>")[0]
    assert "每天按时服药" in given_rows
    assert f"({LOGIN})" in given_rows  # by whom: the person's name and login

    refused = await client.post(
        f"/clinics/{world.yx}/patients/{pid}/handouts",
        data={"track": "core", "lesson_key": "nope", "version": "1", "_csrf_token": token},
    )
    assert refused.status_code == 400
    assert "has no lesson 'nope'" in _error(refused.text, "handout-error")


async def test_another_clinics_patient_is_a_404_whose_ids_reach_no_api(
    world: World,
    client: Client,
    plan: Plan,
    scheduler_db: Database,
    access_db: Database,
) -> None:
    theirs = await patients.enrol(
        context(scheduler_db, access_db), ADMIN, patient_in(world.km, "KM-0001")
    )
    await sign_in(client)
    token = csrf_of((await client.get(f"/clinics/{world.yx}/today")).text)
    world.services.seen.clear()
    km = f"/clinics/{world.km}"
    for path in (
        f"{km}/assessments",
        f"{km}/patients/{theirs.id}/assessments",
        f"{km}/patients/{theirs.id}/assessments/{MOTIVATION}",
        f"{km}/handouts/core/1/daily-dose",
    ):
        assert (await client.get(path)).status_code == 404, path
    for path, data in (
        (f"{km}/patients/{theirs.id}/assessments/{MOTIVATION}", answers()),
        (f"{km}/patients/{theirs.id}/assessments/{MOTIVATION}/link", {"due_id": "1"}),
        (f"{km}/patients/{theirs.id}/handouts", {"track": "core", "lesson_key": "daily-dose"}),
    ):
        posted = await client.post(path, data={**data, "_csrf_token": token})
        assert posted.status_code == 404, path
    assert world.services.seen == []  # the clinic is not this person's: no API call

    # Under this person's own clinic the scheduler answers 404 and nothing is recorded.
    yx = f"/clinics/{world.yx}/patients/{theirs.id}"
    assert (await client.get(f"{yx}/assessments/{MOTIVATION}")).status_code == 404
    assert (await client.get(f"{yx}/assessments")).status_code == 404
    posted = await client.post(
        f"{yx}/assessments/{MOTIVATION}",
        data={**answers(), "assessed_at": "2026-12-01T10:00", "_csrf_token": token},
    )
    assert posted.status_code == 404
    given = await client.post(
        f"{yx}/handouts",
        data={"track": "core", "lesson_key": "daily-dose", "version": "1", "_csrf_token": token},
    )
    assert given.status_code == 404
    assert not [c for c in world.services.seen if c.startswith("POST")]


async def test_the_patient_page_still_asks_the_scheduler_once(
    world: World, client: Client, plan: Plan
) -> None:
    await sign_in(client)
    pid = world.patient_ids["YX-001"]
    world.services.seen.clear()
    shown = await client.get(f"/clinics/{world.yx}/patients/{pid}")
    assert shown.status_code == 200
    assert 'id="assessments"' in shown.text
    scheduler = [c for c in world.services.seen if " scheduler/" in c]
    assert scheduler == [f"GET scheduler/api/v1/patients/{pid}/page?limit=200"]
