"""The console's programme pages in Chromium at phone width (the set-up of
test_console_browser.py): from Today through the page nav to who is struggling, the needs
inbox and the reports (with a week of history, so the charts have bars), then the audit
log as an admin. Each page: a screenshot, axe-core's WCAG 2 A/AA rules, no sideways
scrolling of the page itself (wide tables scroll in their own box), no page error."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.async_api import Browser, Page, expect

from mmt.bench.console_history import seed_console_history
from services.console.struggling import past_days
from shared.access.staff import create_staff
from shared.access.tokens import Role
from shared.db import Database
from tests.integration.consoleutil import LOGIN, PASSWORD, World
from tests.integration.test_console import world as world  # the fixtures
from tests.integration.test_console_browser import browser as browser
from tests.integration.test_console_browser import console_url as console_url
from tests.integration.test_console_browser import shot

PHONE = {"width": 390, "height": 844}
ADMIN = "zhao.admin"


async def _fits_the_phone(page: Page) -> None:
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


async def _sign_in(page: Page, url: str, login: str) -> None:
    await page.goto(f"{url}/signin")
    await page.get_by_label("用户名").fill(login)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("今日")


async def test_each_programme_page_is_reached_from_today_and_passes_axe_at_phone_width(
    world: World,
    console_url: str,
    browser: Browser,
    scheduler_db: Database,
    access_db: Database,
) -> None:
    days = past_days(datetime.now(UTC), "Asia/Shanghai")
    await seed_console_history(scheduler_db, world.yx, days[0], days[-1])
    await create_staff(
        access_db, login=ADMIN, name="赵管理", role=Role.ADMIN, clinics=[], password=PASSWORD
    )
    context = await browser.new_context(locale="zh-CN", viewport=PHONE)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await _sign_in(page, console_url, LOGIN)
    pages = page.get_by_role("navigation", name="页面")
    await expect(pages.get_by_role("link", name="审计日志")).to_have_count(0)

    await pages.get_by_role("link", name="需要帮助的患者").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("需要帮助的患者")
    await expect(page.locator("table.struggling")).to_contain_text("<script>alert(1)</script>")
    await _fits_the_phone(page)
    await shot(page, "p1-struggling")

    await pages.get_by_role("link", name="需求收件箱").click()
    await expect(page.locator("table.inbox tbody tr").first).to_have_class("urgent")
    await page.get_by_label("紧急程度").select_option("not_urgent")
    await page.get_by_role("button", name="显示").click()
    await expect(page.locator("table.inbox")).not_to_contain_text("<script>")
    await _fits_the_phone(page)
    await shot(page, "p2-needs-inbox")

    await pages.get_by_role("link", name="报表").click()
    await expect(page.get_by_role("img", name="各渠道每日送达情况")).to_be_visible()
    assert await page.locator("table.funnel tbody tr").count() >= 7  # a row a day at least
    await _fits_the_phone(page)
    await shot(page, "p3-reports")

    await page.get_by_role("button", name="退出登录", exact=True).click()
    await _sign_in(page, console_url, ADMIN)
    await page.get_by_role("navigation", name="页面").get_by_role("link", name="审计日志").click()
    await expect(page.locator("table.audit")).to_contain_text(LOGIN)
    await _fits_the_phone(page)
    await shot(page, "p4-audit")
    await page.get_by_role("navigation", name="页面").get_by_role("link", name="死信").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("死信")
    await _fits_the_phone(page)
    await shot(page, "p5-dead-letters")
    assert errors == []
    await context.close()
