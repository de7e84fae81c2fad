"""The console's curriculum pages: the tracks (patients' and staff training), a track's
lessons, a patient lesson as a phone-sized preview of what the SMS and the WeChat card carry
(the content API's own preview), a staff lesson to read; over HTTP and in Chromium (axe-core,
a screenshot each, phone width)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from playwright.async_api import Browser, expect

from services.content.service.importer import import_files
from shared.db import Database
from tests.integration.consoleutil import LOGIN, World, client_of
from tests.integration.test_console import sign_in
from tests.integration.test_console import world as world  # the fixtures
from tests.integration.test_console_browser import browser as browser
from tests.integration.test_console_browser import console_url as console_url
from tests.integration.test_console_browser import shot
from tests.integration.test_console_browser_programme import PHONE, _fits_the_phone, _sign_in

CURRICULUM = Path(__file__).resolve().parents[2] / "curriculum"
WELCOME = "/curriculum/core/lessons/welcome-how-replies-work"
MI = "/curriculum/staff-training/lessons/staff-mi-oars"


@pytest.fixture
async def published(content_db: Database) -> None:
    await import_files(content_db, sorted(CURRICULUM.glob("*.yaml")), publish=True)


@pytest.fixture
async def client(world: World, published: None) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with client_of(world.console, world.portal) as test_client:
        status, _ = await sign_in(test_client)
        assert status == 303
        yield test_client


async def test_tracks_lessons_and_a_preview_of_exactly_what_each_channel_carries(
    world: World, client: AsyncTestClient[Litestar]
) -> None:
    tracks = await client.get("/curriculum")
    assert tracks.status_code == 200
    patients, staff = tracks.text.split("医务人员培训</h2>")
    assert "核心课程" in patients
    assert "巩固" in patients
    assert 'href="/curriculum/staff-training"' in staff

    core = await client.get("/curriculum/core")
    assert core.text.count('href="/curriculum/core/lessons/') == 24
    assert "发送给患者：每周 3 节（mon, wed, fri），19:00。" in core.text

    world.services.seen.clear()
    lesson = await client.get(WELCOME)
    assert lesson.status_code == 200
    preview = "content/api/v1/tracks/core/versions/1/lessons/welcome-how-replies-work/preview"
    assert world.services.seen[-2:] == [
        f"GET {preview}?channel=sms&language=zh-CN",
        f"GET {preview}?channel=wechat&language=zh-CN",
    ]
    assert "健康小课堂开课啦，每周三节，点开看看第一课" in lesson.text  # the SMS bubble
    assert "条短信" in lesson.text
    assert "不想再收消息，回复“退订”或 STOP" in lesson.text  # the page after the link
    assert "(正确答案)" in lesson.text

    english = await client.get(f"{WELCOME}?language=en")
    assert "Your health lessons start today" in english.text
    assert world.services.seen[-1].endswith("channel=wechat&language=en")


async def test_a_staff_lesson_is_read_and_bad_or_unknown_codes_are_not_found(
    world: World, client: AsyncTestClient[Litestar]
) -> None:
    world.services.seen.clear()
    lesson = await client.get(MI)
    assert lesson.status_code == 200
    assert "四个基本技巧" in lesson.text
    assert "不会发送给患者" in lesson.text
    assert not any("/preview" in call for call in world.services.seen)

    # What cannot name a track or lesson: the not-found page before any API call.
    for path in (
        "/curriculum/NOT_A_CODE",
        "/curriculum/core/lessons/Bad!Key",
        f"{WELCOME}?language=fr",
    ):
        world.services.seen.clear()
        assert (await client.get(path)).status_code == 404, path
        assert world.services.seen == [], path
    # What could, but names nothing: the same page.
    assert (await client.get("/curriculum/no-such-track")).status_code == 404
    assert (await client.get("/curriculum/core/lessons/no-such-lesson")).status_code == 404


async def test_curriculum_pages_in_the_browser_pass_axe_at_phone_width(
    world: World, published: None, console_url: str, browser: Browser
) -> None:
    context = await browser.new_context(locale="zh-CN", viewport=PHONE)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await _sign_in(page, console_url, LOGIN)
    await page.get_by_role("navigation", name="页面").get_by_role("link", name="课程内容").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("课程内容")
    await shot(page, "c1-curriculum")
    await page.get_by_role("link", name="核心课程").click()
    await page.get_by_role("link", name="欢迎来到健康小课堂").click()
    await expect(page.get_by_role("region", name="sms")).to_contain_text("健康小课堂开课啦")
    await _fits_the_phone(page)
    await shot(page, "c2-lesson-preview")
    await page.goto(f"{console_url}{MI}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("四个基本技巧")
    await _fits_the_phone(page)
    await shot(page, "c3-staff-lesson")
    assert errors == []
    await context.close()
