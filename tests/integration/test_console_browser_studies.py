"""The study and follow-up pages in a real browser (set-up shared with
test_console_browser.py: Debian's Chromium, axe-core's WCAG 2 A/AA rules and a screenshot of
each page in test-output/browser/): from the due list, administer a questionnaire (one
answer left out and a time in the future first, refused beside its field), see the scores
on the patient page; print a handout and record it as given; move a follow-up task's
status from the clinic's task list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import Browser, expect

from services.scheduler.tasks.signals import raise_signal
from shared.db import Database
from tests.integration.consoleutil import LOGIN, PASSWORD, World
from tests.integration.studyconsole import Plan, study_setup
from tests.integration.test_console import world as world  # the fixtures
from tests.integration.test_console_browser import OUTPUT, shot
from tests.integration.test_console_browser import browser as browser
from tests.integration.test_console_browser import console_url as console_url

QUESTIONS = 19  # the treatment-motivation questionnaire's


async def test_administer_a_questionnaire_record_a_handout_and_move_a_task(
    world: World,
    console_url: str,
    browser: Browser,
    scheduler_db: Database,
    access_db: Database,
    content_db: Database,
    tmp_path: Path,
) -> None:
    plan: Plan = await study_setup(world, scheduler_db, access_db, content_db, tmp_path)
    async with scheduler_db.transaction() as session:
        task = await raise_signal(
            session,
            kind="dropout_risk",
            clinic_id=world.yx,
            patient_id=world.patient_ids["YX-001"],
            signal_key="browser:dropout",
            signalled_at=datetime.now(UTC) - timedelta(days=1),
        )
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
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

    await page.get_by_role("link", name="待做评估").click()
    await expect(page.get_by_role("heading", name="待做评估 · Clinic YX")).to_be_visible()
    overdue = page.locator(f"#due-{plan.overdue_id}")
    await expect(overdue).to_contain_text("已逾期")
    await shot(page, "20-assessments-due")
    await overdue.get_by_role("link", name="填写问卷").click()
    await expect(page.get_by_role("heading", name="治疗动机问卷 · 张伟 YX-001")).to_be_visible()
    groups = page.get_by_role("group")
    assert await groups.count() == QUESTIONS
    for i in range(1, QUESTIONS):  # the first question left out: missing, allowed
        await groups.nth(i).get_by_label("同意", exact=True).check()
    await page.get_by_label("评估时间（门诊当地时间）").fill("2099-01-01T10:00")
    await page.get_by_role("button", name="保存回答").click()
    when = page.get_by_label("评估时间（门诊当地时间）")
    await expect(when).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#assessed-at-error")).to_be_visible()
    await expect(groups.nth(5).get_by_label("同意", exact=True)).to_be_checked()  # kept
    await shot(page, "21-assessment-refused")
    local_now = datetime.now(UTC) + timedelta(hours=8) - timedelta(minutes=5)
    await when.fill(local_now.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_role("button", name="保存回答").click()
    await expect(page.get_by_role("heading", name="张伟 YX-001 正常")).to_be_visible()
    answered = page.locator("#assessments")
    await expect(answered).to_contain_text("问题认识: 35")  # pr-1 missing: (4+4+4+2)/4 x 10
    await shot(page, "22-patient-assessed")

    lesson = page.locator("#handout-daily-dose")  # 每天按时服药
    async with page.expect_download() as download:
        await lesson.get_by_role("link", name="打印宣传单（PDF）").click()
    saved = await (await download.value).path()
    assert Path(saved).read_bytes().startswith(b"%PDF")
    await lesson.get_by_role("button", name="记录为已发放").click()
    given = page.get_by_role("table", name="已发放的宣传单")
    await expect(given).to_contain_text("每天按时服药")
    await expect(given).to_contain_text(f"({LOGIN})")
    await shot(page, "23-handout-given")

    await page.get_by_role("link", name="门诊任务").click()
    row = page.locator(f"#task-{task}")
    await expect(row).to_contain_text("已逾期")
    await shot(page, "24-clinic-tasks")
    await row.get_by_label("新状态 YX-001").select_option("in_progress")
    await row.get_by_role("button", name="更改状态").click()
    await expect(page.locator(f"#task-{task}")).to_contain_text("处理中")
    await page.locator(f"#task-{task}").get_by_role("link", name="脱失风险").click()
    await expect(page.locator("#task-status-now")).to_have_text("处理中")
    await shot(page, "25-task")

    refused = "Failed to load resource: the server responded with a status of 400"
    assert [e for e in errors if not e.startswith(refused)] == []
    await context.close()
    for name in ("20-assessments-due", "21-assessment-refused", "22-patient-assessed"):
        assert (OUTPUT / f"{name}.png").stat().st_size > 0
