"""The console's training pages over HTTP: "My training" (lessons to read, the due quiz
round), a staff lesson marked as read from its curriculum page, the quiz as a form (a
question left out comes back marked with the answers kept; a second sending is refused),
and the training report per clinic and, for a cluster-randomised study, per arm; a
coordinator of one clinic sees only their clinic."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]
from litestar import Litestar
from litestar.testing import AsyncTestClient
from playwright.async_api import Browser, expect

from services.content.training import quiz
from services.content.training.schemas import QuizIn
from services.scheduler.studies import clusters, service
from services.scheduler.studies.schemas import ClusterClinicIn, ClusterIn
from shared.access.tokens import Role
from shared.db import Database
from tests.integration.consoleutil import LOGIN, PASSWORD, World, client_of, csrf_of
from tests.integration.schedutil import ADMIN, context
from tests.integration.test_console import world as world  # the fixtures
from tests.integration.test_console_browser import browser as browser
from tests.integration.test_console_browser import console_url as console_url
from tests.integration.test_console_browser import shot
from tests.integration.test_console_browser_programme import PHONE, _fits_the_phone, _sign_in
from tests.integration.trainingutil import (
    RIGHT,
    TRACK,
    principal,
    publish_staff_track,
    staff_member,
    wrong,
)

Client = AsyncTestClient[Litestar]
CARE = yaml.safe_load(
    (Path(__file__).parents[2] / "studies" / "mmt-care.yaml").read_text(encoding="utf-8")
)
OARS = f"/curriculum/{TRACK}/lessons/staff-mi-oars"


async def sign_in_as(client: Client, login: str) -> None:
    form = await client.get("/signin")
    answer = await client.post(
        "/signin",
        data={"login": login, "password": PASSWORD, "_csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303


@pytest.fixture
async def arms(
    world: World, content_db: Database, access_db: Database, scheduler_db: Database
) -> dict[int, str]:
    """The staff track published; KM's coordinator took the baseline (half right); both
    clinics randomised in the MMT CARE study (one per arm). The clinics' arms by id."""
    await publish_staff_track(content_db)
    now = datetime.now(UTC)
    km_staff = await staff_member(access_db, "km.staff", ["KM"], now)
    half = wrong(RIGHT, *list(RIGHT)[:4])
    km = principal(km_staff, {world.km})
    await quiz.take(content_db, access_db, km, "baseline", QuizIn(answers=half), now)
    await staff_member(access_db, "the.admin", [], now, role=Role.ADMIN)
    study = await service.define_study(scheduler_db, CARE, "test")
    drawn = await clusters.allocate_clinics(
        context(scheduler_db, access_db),
        ADMIN,
        study.id,
        ClusterIn(
            clinics=[ClusterClinicIn(clinic_id=world.yx), ClusterClinicIn(clinic_id=world.km)]
        ),
    )
    return {entry.clinic_id: entry.arm for entry in drawn}


@pytest.fixture
async def client(world: World, arms: dict[int, str]) -> AsyncIterator[Client]:
    async with client_of(world.console, world.portal) as test_client:
        await sign_in_as(test_client, LOGIN)
        yield test_client


async def test_a_lesson_is_marked_read_and_the_quiz_form_round_trips(
    world: World, client: Client
) -> None:
    mine = await client.get("/training")
    assert mine.status_code == 200
    assert "已读 0 节，共 8 节。" in mine.text
    assert 'href="/training/quiz/baseline"' in mine.text  # due from today

    lesson = await client.get(OARS)
    assert "标记为已读" in lesson.text
    assert "(正确答案)" not in lesson.text  # the quiz's answers are not shown to staff
    read = await client.post(
        f"/training/lessons/{TRACK}/staff-mi-oars/read",
        data={"_csrf_token": csrf_of(lesson.text)},
        follow_redirects=False,
    )
    assert (read.status_code, read.headers["location"]) == (303, OARS)
    again = await client.get(OARS)
    assert "你已于" in again.text
    assert "标记为已读" not in again.text
    assert "已读 1 节，共 8 节。" in (await client.get("/training")).text

    form = await client.get("/training/quiz/baseline")
    assert form.status_code == 200
    assert form.text.count("<fieldset") == 8
    token = csrf_of(form.text)
    answers = wrong(RIGHT, f"{TRACK}/staff-words-matter", f"{TRACK}/staff-mi-oars")
    partial = {k: str(v) for k, v in answers.items() if not k.endswith("staff-mi-spirit")}
    left_out = await client.post("/training/quiz/baseline", data={**partial, "_csrf_token": token})
    assert left_out.status_code == 422
    assert "还有 1 题未答" in left_out.text
    assert left_out.text.count(" checked") == 7  # what was chosen is kept
    assert left_out.text.count('aria-invalid="true"') == 1

    sent = await client.post(
        "/training/quiz/baseline",
        data={**{k: str(v) for k, v in answers.items()}, "_csrf_token": token},
        follow_redirects=False,
    )
    assert (sent.status_code, sent.headers["location"]) == (303, "/training?taken=baseline")
    done = await client.get("/training?taken=baseline")
    assert "你的得分：75%" in done.text
    twice = await client.post(
        "/training/quiz/baseline",
        data={**{k: str(v) for k, v in answers.items()}, "_csrf_token": token},
    )
    assert twice.status_code == 409
    assert "once only" in twice.text
    assert "你已完成这一轮" in (await client.get("/training/quiz/baseline")).text

    world.services.seen.clear()
    assert (await client.get("/training/quiz/month-12")).status_code == 404
    assert world.services.seen == []


def _row(html: str, section: str, round_name: str) -> list[str]:
    """The cells of a round's row in the section whose heading starts `section`."""
    part = html.split(section, 1)[1].split("</table>", 1)[0]
    row = part.split(f'<th scope="row">{round_name}</th>', 1)[1].split("</tr>", 1)[0]
    return re.findall(r"<td>(.*?)</td>", row, flags=re.S)


async def test_the_report_per_clinic_and_per_arm_and_a_coordinator_sees_only_their_clinic(
    world: World, client: Client, arms: dict[int, str]
) -> None:
    form = await client.get("/training/quiz/baseline")
    await client.post(
        "/training/quiz/baseline",
        data={**{k: str(v) for k, v in RIGHT.items()}, "_csrf_token": csrf_of(form.text)},
    )
    mine = await client.get("/training/report")
    assert mine.status_code == 200
    assert "Clinic YX" in mine.text
    assert "Clinic KM" not in mine.text  # a coordinator of YX: their clinic only
    assert _row(mine.text, '<h2 id="clinic-', "基线")[:3] == ["1", "1", "100%"]
    assert "四个基本技巧：问、肯定、反映、总结: 100% (1/1)" in mine.text  # by the lesson's title
    assert f"组 {arms[world.yx]}" in mine.text
    assert f"组 {arms[world.km]}" not in mine.text

    client.cookies.clear()  # the same console, signed in as an admin now
    await sign_in_as(client, "the.admin")
    report = await client.get("/training/report")
    assert report.status_code == 200
    assert _row(report.text, '<h2 id="clinic-1">', "基线")[:3] == ["1", "1", "100%"]
    assert _row(report.text, '<h2 id="clinic-2">', "基线")[:3] == ["1", "1", "50%"]
    yx_arm, km_arm = arms[world.yx], arms[world.km]
    assert yx_arm != km_arm
    assert _row(report.text, f"<h3>组 {yx_arm}</h3>", "基线")[:3] == ["1", "1", "100%"]
    assert _row(report.text, f"<h3>组 {km_arm}</h3>", "基线")[:3] == ["1", "1", "50%"]


async def test_training_pages_in_the_browser_pass_axe_at_phone_width(
    world: World, arms: dict[int, str], console_url: str, browser: Browser
) -> None:
    context = await browser.new_context(locale="zh-CN", viewport=PHONE)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await _sign_in(page, console_url, LOGIN)
    await page.get_by_role("navigation", name="页面").get_by_role("link", name="我的培训").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("我的培训")
    await _fits_the_phone(page)
    await shot(page, "t1-my-training")
    await page.get_by_role("link", name="开始测验").click()
    for fieldset in await page.locator("fieldset").all():
        await fieldset.get_by_role("radio").first.check()
    await _fits_the_phone(page)
    await shot(page, "t2-quiz")
    await page.get_by_role("button", name="提交答案").click()
    await expect(page.get_by_role("status")).to_contain_text("你的得分")
    await page.get_by_role("navigation", name="页面").get_by_role("link", name="培训报告").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("培训报告")
    await _fits_the_phone(page)
    await shot(page, "t3-training-report")
    assert errors == []
    await context.close()
