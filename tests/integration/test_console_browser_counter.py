"""At the counter in a real browser (set-up shared with test_console_browser.py: Debian's
Chromium, axe-core's WCAG 2 A/AA rules and a screenshot of each page in
test-output/browser/): print a patient's card, scan it at Today as a USB scanner would
(the code typed into the focused field, then Enter) twice, write a follow-up note with an
outcome on an alert, get back a pause typed into a session that ended meanwhile, and see
the page an address gets after too many failed sign-ins."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import Browser, Page, expect
from redis.asyncio import Redis

from services.console.throttle import SignInThrottle
from shared.db import Database
from shared.settings import Settings
from tests.integration.consoleutil import LOGIN, PASSWORD, World
from tests.integration.test_console import world as world  # the fixtures
from tests.integration.test_console_browser import browser as browser
from tests.integration.test_console_browser import console_url as console_url
from tests.integration.test_console_browser import shot
from tests.integration.test_scheduler_api import add_alert


async def _sign_in(page: Page) -> None:
    await page.get_by_label("Login").fill(LOGIN)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def test_scan_a_card_note_an_alert_and_keep_a_form_across_an_ended_session(
    world: World,
    console_url: str,
    browser: Browser,
    scheduler_db: Database,
    redis: Redis,
    app_settings: Settings,
) -> None:
    await add_alert(scheduler_db, world.patient_ids["YX-001"], world.yx)
    context = await browser.new_context(locale="en", viewport={"width": 390, "height": 844})
    await context.add_cookies([{"name": "console_lang", "value": "en", "url": console_url}])
    page = await context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    today = f"{console_url}/clinics/{world.yx}/today"
    wang = f"{console_url}/clinics/{world.yx}/patients/{world.patient_ids['YX-002']}"

    await page.goto(wang)
    await _sign_in(page)
    await page.get_by_role("link", name="Patient card (print)").click()
    await expect(page.get_by_role("img", name="Patient card code")).to_be_visible()
    code = await page.locator(".card-code").inner_text()
    await shot(page, "12-patient-card")

    await page.goto(today)
    field = page.get_by_label("Scan a patient card")
    await expect(field).to_be_focused()
    await page.keyboard.type(code.replace(" ", ""))  # a scanner types, then Enter
    await page.keyboard.press("Enter")
    result = page.locator("#scan-result")
    await expect(result).to_contain_text("Dose recorded: 王芳 (YX-002) at")
    await expect(page.locator("section[aria-labelledby=dosed]")).to_contain_text("王芳")
    await expect(field).to_be_focused()  # ready for the next card
    await expect(field).to_have_value("")
    await shot(page, "13-card-scanned")
    await page.keyboard.type(code)
    await page.keyboard.press("Enter")
    await expect(result).to_contain_text("王芳 (YX-002) was already dosed today at")

    await page.locator("section.attention summary").click()
    await page.get_by_label("Follow-up note").fill("Phoned his sister: he is in hospital")
    await page.get_by_label("Outcome").select_option("reached")
    await page.get_by_role("button", name="Add note").click()
    notes = page.locator("section.attention ol.notes")
    await expect(notes).to_contain_text("李娜 (li.na)")
    await expect(notes).to_contain_text("Phoned his sister")
    await shot(page, "14-alert-note")

    zhang = f"{console_url}/clinics/{world.yx}/patients/{world.patient_ids['YX-001']}"
    await page.goto(zhang)
    await page.locator("#pause-reason").fill("Hospital stay")
    world.clock.advance(timedelta(minutes=31))  # the session ends while typing
    await page.get_by_role("button", name="Pause", exact=True).click()
    await expect(page.get_by_text("What you typed is kept for 30 minutes")).to_be_visible()
    await shot(page, "15-form-kept-at-sign-in")
    await _sign_in(page)
    await expect(page).to_have_url(zhang)
    await expect(page.locator("#restored")).to_be_visible()
    await expect(page.locator("#pause-reason")).to_have_value("Hospital stay")
    await shot(page, "16-form-given-back")
    assert not [c for c in world.services.seen if c.endswith("/pause")]  # not sent meanwhile

    # Signed out, from an address that has failed to sign in too often: a clear page.
    await page.get_by_role("button", name="Sign out", exact=True).click()
    limit = world.settings.console_signin_failures_per_address
    throttle = SignInThrottle(
        redis, app_settings.bus.bus_prefix, world.clock, limit, timedelta(minutes=15)
    )
    for _ in range(limit):
        await throttle.failed("127.0.0.1")  # the browser's address, as uvicorn sees it
    await _sign_in(page)
    await expect(page.get_by_text("Too many failed sign-ins from this network")).to_be_visible()
    await shot(page, "17-sign-in-throttled")
    assert errors == [
        "Failed to load resource: the server responded with a status of 429 (Too Many Requests)"
    ]  # that answer's own status, nothing else
    await context.close()
