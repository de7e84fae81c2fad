"""The patient pages in a real browser (set-up shared with test_console_browser.py:
Debian's Chromium, axe-core's WCAG 2 A/AA rules and a screenshot of each page in
test-output/browser/): enrol a patient (a refused phone number shown beside its field
first) and see their WeChat binding QR code; open their page; pause them with a resume
date and see the calendar say so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from deploy.fakes.process import RunningFake
from services.scheduler.timeplan import local_today
from tests.integration.consoleutil import LOGIN, PASSWORD, World
from tests.integration.test_console import world as world  # the fixtures
from tests.integration.test_console_browser import OUTPUT, shot
from tests.integration.test_console_browser import browser as browser
from tests.integration.test_console_browser import console_url as console_url
from tests.integration.test_console_patients import fake_wechat as fake_wechat
from tests.integration.test_console_patients import wechat_env


async def test_enrol_see_the_qr_code_and_pause_with_a_resume_date(
    world: World,
    console_url: str,
    browser: Browser,
    fake_wechat: RunningFake,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wechat_env(monkeypatch, fake_wechat)
    context = await browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = await context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    await page.goto(f"{console_url}/signin")
    await page.get_by_label("用户名").fill(LOGIN)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(f"{console_url}/clinics/{world.yx}/today")

    await page.get_by_role("link", name="患者入组").click()
    await expect(page.get_by_role("heading", name="患者入组 · Clinic YX")).to_be_visible()
    await shot(page, "7-enrol")
    await page.get_by_label("门诊编号").fill("YX-010")
    await page.get_by_label("姓名缩写或昵称").fill("孙七")
    await page.get_by_label("患者已阅读并签署知情同意书").check()
    await page.get_by_label("知情同意书版本").fill("2026-01")
    await page.get_by_label("服药时间").fill("08:15")
    await page.get_by_label("手机号码").fill("12345")
    await page.get_by_role("button", name="入组", exact=True).click()
    phone = page.get_by_label("手机号码")
    await expect(phone).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#phone-error")).to_have_text("这不是有效的手机号码。")
    await expect(page.get_by_label("姓名缩写或昵称")).to_have_value("孙七")  # kept
    await expect(page.get_by_label("服药时间")).to_have_value("08:15")
    await shot(page, "8-enrol-refused")

    await phone.fill("13900139010")
    await page.get_by_role("button", name="入组", exact=True).click()
    await expect(page.get_by_role("heading", name="绑定微信 · 孙七")).to_be_visible()
    qr = page.get_by_role("img", name="微信绑定二维码")
    await expect(qr).to_be_visible()
    box = await qr.bounding_box()
    assert box is not None
    assert box["width"] >= 150  # big enough to scan from a phone held at the counter
    await shot(page, "9-wechat-qr")
    assert fake_wechat.stats()["qrcodes"] >= 1

    await page.get_by_role("link", name="打开患者页面").click()
    await expect(page.get_by_role("heading", name="孙七 YX-010 正常")).to_be_visible()
    await expect(page.locator("td[aria-current=date]")).to_contain_text("应到")
    await shot(page, "10-patient")

    back = local_today(datetime.now(UTC), "Asia/Shanghai") + timedelta(days=45)
    await page.get_by_label("原因").fill("强制隔离戒毒")
    await page.get_by_label("自动恢复日期（可选）").fill(back.isoformat())
    await page.get_by_role("button", name="暂停", exact=True).click()
    await expect(page.get_by_role("heading", name="孙七 YX-010 已暂停")).to_be_visible()
    facts = page.locator("section[aria-labelledby=profile]")
    await expect(facts).to_contain_text("强制隔离戒毒")
    await expect(facts).to_contain_text(back.isoformat())
    await expect(page.locator("td[aria-current=date]")).to_contain_text("暂停")
    await expect(page.get_by_role("button", name="立即恢复提醒")).to_be_visible()
    await shot(page, "11-patient-paused")

    # The refused form is answered 400 on purpose (Chromium logs each such answer).
    refused = "Failed to load resource: the server responded with a status of 400"
    assert [e for e in errors if not e.startswith(refused)] == []
    await context.close()
    for name in ("7-enrol", "8-enrol-refused", "9-wechat-qr", "10-patient", "11-patient-paused"):
        assert (OUTPUT / f"{name}.png").stat().st_size > 0
