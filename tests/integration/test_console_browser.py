"""The console in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium;
`.ci/run` installs it, Playwright's own browser download is not used). Sign in, see Today,
record a dose with one click (htmx), triage the urgent need with a note, switch to
English, sign out; a screenshot of each
page goes to test-output/browser/ (ignored by git), each page passes axe-core's WCAG 2 A/AA
rules (tests/data/axe-core/), and the page logs no error (a script or style refused by the
Content-Security-Policy would)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect

from shared.net import free_port, wait_for_port
from tests.integration.consoleutil import LOGIN, PASSWORD, World
from tests.integration.test_console import world as world  # the fixture

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = Path(__file__).parents[2] / "test-output" / "browser"
AXE = Path(__file__).parents[1] / "data" / "axe-core" / "axe.min.js"
WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@pytest.fixture
def console_url(world: World) -> Iterator[str]:
    """The console served over real HTTP, on the world's loop (where the services' apps
    and their database pools live)."""
    port = free_port()
    config = uvicorn.Config(world.console, host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    serving = world.portal.start_task_soon(server.serve)
    wait_for_port(port, 20)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    serving.result(timeout=20)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("the browser tests need /usr/bin/chromium: apt-get install -y chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


async def shot(page: Page, name: str) -> None:
    """A screenshot of the page, and axe-core's WCAG A/AA check of it (no violation)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)
    # Evaluated through the DevTools protocol, which the page's CSP does not govern: the
    # page itself still allows no script but its own.
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.evaluate(AXE.read_text() + "\n;0")
    found = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_A_AA
    )
    violations = [
        f"{v['id']}: {v['help']} ({', '.join(n['target'][0] for n in v['nodes'])})"
        for v in found["violations"]
    ]
    assert violations == [], f"{name}: {violations}"
    assert len(found["passes"]) >= 10, "axe-core checked (almost) nothing"


async def test_sign_in_record_a_dose_switch_to_english_and_sign_out(
    world: World, console_url: str, browser: Browser
) -> None:
    context = await browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = await context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    await page.goto(f"{console_url}/")
    await expect(page).to_have_url(f"{console_url}/signin?next=%2F")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    await shot(page, "1-sign-in")

    await page.get_by_label("用户名").fill(LOGIN)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(f"{console_url}/clinics/{world.yx}/today")
    await expect(page.get_by_role("heading", name="需要关注")).to_be_visible()
    # The patient's words, escaped: shown as text, never run.
    await expect(page.get_by_text("<script>alert(1)</script>", exact=False)).to_be_visible()
    await shot(page, "2-today")

    waiting = page.locator("section[aria-labelledby=waiting]")
    dosed = page.locator("section[aria-labelledby=dosed]")
    await expect(waiting).to_contain_text("王芳")
    async with page.expect_response(lambda r: r.url.endswith("/dose")) as answer:
        await page.get_by_role("button", name="记录服药 YX-002").click()
    response = await answer.value
    assert await response.request.header_value("hx-request") == "true"  # htmx, in place
    await expect(dosed).to_contain_text("王芳")
    await expect(waiting).not_to_contain_text("王芳")
    await shot(page, "3-dose-recorded")

    await page.locator("li.urgent a").click()
    await expect(page.get_by_role("heading", name=re.compile("紧急"))).to_be_visible()
    await page.get_by_label("状态").select_option("in_progress")
    await page.get_by_role("textbox", name="新的跟进记录").fill("已电话联系，今天下午面谈")
    await page.get_by_role("button", name="保存").click()
    await expect(page.locator("ol.notes")).to_contain_text("已电话联系，今天下午面谈")
    await shot(page, "4-need-triaged")
    await page.get_by_role("link", name="返回今日").click()

    await page.get_by_role("button", name="English").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", name="Not yet come")).to_be_visible()
    await shot(page, "5-today-english")

    await page.get_by_role("button", name="Sign out", exact=True).click()
    await expect(page).to_have_url(f"{console_url}/signin")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await shot(page, "6-signed-out")
    await page.goto(f"{console_url}/clinics/{world.yx}/today")
    await expect(page).to_have_url(f"{console_url}/signin?next=%2Fclinics%2F{world.yx}%2Ftoday")
    assert errors == []
    await context.close()
    for name in ("1-sign-in", "2-today", "3-dose-recorded", "5-today-english", "6-signed-out"):
        assert (OUTPUT / f"{name}.png").stat().st_size > 0
