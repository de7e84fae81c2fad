"""The patient pages of the console over HTTP: the patient's page one click from Today
(record, calendar, timeline, needs), pause with a resume date and resume through the
scheduler's API, a refused change shown beside its field with what was typed kept,
enrolment (a bad dose time, no consent, a taken number), the WeChat binding's QR code,
transfer only to the person's own clinics, another clinic's patient a 404 page whose ids
reach no API, an escaped display name, and no patient data in the logs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import select

from deploy.fakes.process import RunningFake, running_fake
from services.scheduler import patients
from services.scheduler.timeplan import local_today
from shared.access.models import ApiToken, AuditEntry, Staff
from shared.access.staff import create_staff
from shared.access.tokens import Role
from shared.db import Database
from tests.integration.consoleutil import LOGIN, PASSWORD, PATIENTS, SCRIPT_NEED, World, csrf_of
from tests.integration.schedutil import ADMIN, context, patient_in
from tests.integration.test_console import Client, sign_in
from tests.integration.test_console import client as client  # the fixtures
from tests.integration.test_console import world as world

ZONE = "Asia/Shanghai"
_PATIENT_LINK = re.compile(r'href="(/clinics/\d+/patients/\d+)">张伟<')


def _today(world: World) -> datetime:
    return world.clock()


def _field_error(html: str, field_id: str) -> str:
    """The error shown beside a field (its aria-describedby target), or ''."""
    found = re.search(rf'<p class="problem" id="{field_id}-error">([^<]*)</p>', html)
    return found.group(1) if found else ""


def _value(html: str, field_id: str) -> str:
    found = re.search(rf'id="{field_id}" [^>]*value="([^"]*)"', html)
    assert found, f"no field {field_id}"
    return unescape(found.group(1))


def _enrolment(token: str, **changes: str) -> dict[str, str]:
    form = {
        "clinic_number": "YX-003",
        "display_name": "赵六",
        "consent": "yes",
        "consent_version": "2026-01",
        "language": "zh-CN",
        "dose_time": "07:45",
        "quiet_start": "22:30",
        "quiet_end": "06:30",
        "phone": "13900139003",
        "sms": "on",
        "study_arm": "intervention",
        "_csrf_token": token,
    }
    return {**form, **changes}


async def _patient_path(world: World, client: Client) -> str:
    await sign_in(client)
    today = await client.get(f"/clinics/{world.yx}/today")
    found = _PATIENT_LINK.search(today.text)
    assert found, "Today links each patient to their page"
    return found.group(1)


async def test_the_patient_page_is_one_click_from_today(world: World, client: Client) -> None:
    path = await _patient_path(world, client)
    assert path == f"/clinics/{world.yx}/patients/{world.patient_ids['YX-001']}"
    shown = await client.get(path)
    assert shown.status_code == 200
    text = shown.text
    for heading in (
        "基本信息与知情同意",
        "联系渠道",
        "服药情况",
        "消息与回复",
        "尿检",
        "评分",
        "需求",
    ):
        assert f">{heading}" in text, heading
    assert "2026-01" in text  # the consent's version
    assert "•••• 0000" in text  # the phone, masked on the shared screen
    assert "13900130000" not in text
    today_cell = re.search(r'<td class="day (\w+)" aria-current="date">', text)
    assert today_cell, "today is marked in the calendar"
    assert today_cell.group(1) == "due"
    assert "今日待服: 1" in text  # the legend says it in words, not only in colour
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # the patient's need, escaped
    assert "我没钱交房租" in text

    dosed = await client.post(
        f"/clinics/{world.yx}/patients/{world.patient_ids['YX-001']}/dose",
        data={"_csrf_token": csrf_of(text)},
    )
    assert dosed.status_code == 200
    after = (await client.get(path)).text
    assert '<td class="day dosed" aria-current="date">' in after
    assert "观察服药" in after  # the dose in the timeline


async def test_pause_with_a_resume_date_then_resume(
    world: World, client: Client, access_db: Database
) -> None:
    path = await _patient_path(world, client)
    page = await client.get(path)
    token = csrf_of(page.text)
    today = local_today(_today(world), ZONE)

    # A date that has passed: the scheduler refuses it; the reason is shown beside the
    # date, and what was typed stays in the form.
    refused = await client.post(
        f"{path}/pause",
        data={"reason": "强制隔离戒毒", "resume_on": today.isoformat(), "_csrf_token": token},
    )
    assert refused.status_code == 400
    assert _field_error(refused.text, "pause-resume-on") == "请填写今天以后的日期，或留空。"
    assert _value(refused.text, "pause-reason") == "强制隔离戒毒"
    assert _value(refused.text, "pause-resume-on") == today.isoformat()
    assert 'id="pause-resume-on" name="resume_on" type="date"' in refused.text

    back = (today + timedelta(days=60)).isoformat()
    paused = await client.post(
        f"{path}/pause",
        data={"reason": "强制隔离戒毒", "resume_on": back, "_csrf_token": token},
        follow_redirects=False,
    )
    assert (paused.status_code, paused.headers["location"]) == (303, path)
    shown = (await client.get(path)).text
    assert '<span class="state state-paused">已暂停</span>' in shown
    assert "强制隔离戒毒" in shown
    assert back in shown
    assert '<td class="day paused" aria-current="date">' in shown
    assert "立即恢复提醒" in shown

    resumed = await client.post(
        f"{path}/resume", data={"_csrf_token": token}, follow_redirects=False
    )
    assert resumed.status_code == 303
    again = (await client.get(path)).text
    assert '<span class="state state-active">正常</span>' in again
    assert "暂停提醒" in again

    async with access_db.sessions() as session:
        audited = (
            await session.execute(
                select(AuditEntry.route, AuditEntry.status, Staff.login)
                .join(ApiToken, ApiToken.id == AuditEntry.token_id)
                .join(Staff, Staff.id == ApiToken.staff_id)
                .where(AuditEntry.method == "POST")
                .order_by(AuditEntry.id)
            )
        ).all()
    assert audited == [
        ("/api/v1/patients/{patient_id}/pause", 400, LOGIN),
        ("/api/v1/patients/{patient_id}/pause", 200, LOGIN),
        ("/api/v1/patients/{patient_id}/resume", 200, LOGIN),
    ]


async def test_enrol_with_a_bad_dose_time_shows_the_error_beside_it_and_keeps_the_typing(
    world: World, client: Client
) -> None:
    await sign_in(client)
    today = await client.get(f"/clinics/{world.yx}/today")
    assert f'href="/clinics/{world.yx}/enrol"' in today.text
    form = await client.get(f"/clinics/{world.yx}/enrol")
    assert form.status_code == 200
    token = csrf_of(form.text)
    world.services.seen.clear()

    no_consent = await client.post(f"/clinics/{world.yx}/enrol", data=_enrolment(token, consent=""))
    assert no_consent.status_code == 400
    assert _field_error(no_consent.text, "consent") == "入组需要患者的知情同意。"
    assert world.services.seen == []  # nothing sent without consent

    bad = await client.post(f"/clinics/{world.yx}/enrol", data=_enrolment(token, dose_time="25:00"))
    assert bad.status_code == 400
    assert _field_error(bad.text, "dose_time") == "请按24小时制填写时间，例如 07:30。"
    assert _field_error(bad.text, "quiet_start") == ""
    for field, typed in (
        ("dose_time", "25:00"),
        ("clinic_number", "YX-003"),
        ("display_name", "赵六"),
        ("consent_version", "2026-01"),
        ("phone", "13900139003"),
        ("quiet_start", "22:30"),
        ("quiet_end", "06:30"),
    ):
        assert _value(bad.text, field) == typed, field
    assert 'id="consent" name="consent" value="yes" checked' in bad.text
    assert '<option value="intervention" selected>' in bad.text
    assert 'name="wechat" value="on">' in bad.text  # left unticked, as sent

    bad_phone = await client.post(
        f"/clinics/{world.yx}/enrol", data=_enrolment(token, phone="12345")
    )
    assert _field_error(bad_phone.text, "phone") == "这不是有效的手机号码。"
    no_channel = await client.post(f"/clinics/{world.yx}/enrol", data=_enrolment(token, sms=""))
    assert "请选择现在就能联系到患者的渠道" in _field_error(no_channel.text, "channels")

    made = await client.post(
        f"/clinics/{world.yx}/enrol", data=_enrolment(token), follow_redirects=False
    )
    assert made.status_code == 303
    shown = await client.get(made.headers["location"])
    assert "赵六" in shown.text
    assert "07:45" in shown.text
    assert "干预组" in shown.text
    taken = await client.post(f"/clinics/{world.yx}/enrol", data=_enrolment(token))
    assert taken.status_code == 400
    assert _field_error(taken.text, "clinic_number") == "本门诊已有使用此编号的患者。"


@pytest.fixture(scope="module")
def fake_wechat() -> Iterator[RunningFake]:
    with running_fake("wechat", "--app-id", "wxconsoletest00001", "--app-secret", "s3cret") as fake:
        yield fake


def wechat_env(monkeypatch: pytest.MonkeyPatch, fake: RunningFake) -> None:
    """The scheduler's official account, pointed at the fake WeChat (read per request)."""
    for name, value in {
        "CHANNEL_WECHAT": "wechat",
        "WECHAT_APP_ID": "wxconsoletest00001",
        "WECHAT_APP_SECRET": "s3cret",
        "WECHAT_API_BASE_URL": fake.url,
        "WECHAT_TEMPLATES": '{"dose": {"template_id": "t", "data": {"thing1": "title"}}}',
    }.items():
        monkeypatch.setenv(name, value)


async def test_enrolling_with_wechat_shows_the_binding_qr_code(
    world: World,
    client: Client,
    fake_wechat: RunningFake,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await sign_in(client)
    form = await client.get(f"/clinics/{world.yx}/enrol")
    token = csrf_of(form.text)
    plain = await client.post(
        f"/clinics/{world.yx}/enrol", data=_enrolment(token, clinic_number="YX-004", wechat="on")
    )
    assert plain.status_code == 200
    assert "已入组" in plain.text
    assert "未配置微信公众号" in plain.text  # no account: said so, no QR code
    assert "<svg" not in plain.text

    wechat_env(monkeypatch, fake_wechat)
    shown = await client.post(
        f"/clinics/{world.yx}/enrol", data=_enrolment(token, clinic_number="YX-005", wechat="on")
    )
    assert shown.status_code == 200
    assert '<div class="qr" role="img" aria-label="微信绑定二维码"><svg' in shown.text
    assert 'class="segno"' in shown.text
    assert fake_wechat.stats()["qrcodes"] == 1
    patient_page = re.search(r'href="(/clinics/\d+/patients/\d+)"', shown.text)
    assert patient_page
    again = await client.post(
        f"{patient_page.group(1)}/wechat-binding", data={"_csrf_token": csrf_of(shown.text)}
    )
    assert again.status_code == 200
    assert "<svg" in again.text
    assert fake_wechat.stats()["qrcodes"] == 2


async def test_another_clinics_patient_is_a_404_page_whose_ids_reach_no_api(
    world: World, client: Client, scheduler_db: Database, access_db: Database
) -> None:
    theirs = await patients.enrol(
        context(scheduler_db, access_db), ADMIN, patient_in(world.km, "KM-0001")
    )
    await sign_in(client)
    page = await client.get(f"/clinics/{world.yx}/today")
    token = csrf_of(page.text)
    world.services.seen.clear()

    other = await client.get(f"/clinics/{world.km}/patients/{theirs.id}")
    assert other.status_code == 404
    assert "未找到" in other.text
    for action, data in (
        ("pause", {"reason": "x"}),
        ("resume", {}),
        ("discharge", {"confirm": "yes"}),
        ("wechat-binding", {}),
        ("urine-tests", {"taken_on": "2026-11-01", "result": "negative"}),
    ):
        posted = await client.post(
            f"/clinics/{world.km}/patients/{theirs.id}/{action}",
            data={**data, "_csrf_token": token},
        )
        assert posted.status_code == 404, action
    assert (await client.get(f"/clinics/{world.km}/enrol")).status_code == 404
    assert world.services.seen == []  # not one API call: the clinic is not this person's

    # Under this person's own clinic, the scheduler is asked for the record and answers
    # 404 (the token's clinics decide); nothing else is asked and nothing is changed.
    mine = await client.get(f"/clinics/{world.yx}/patients/{theirs.id}")
    assert mine.status_code == 404
    paused = await client.post(
        f"/clinics/{world.yx}/patients/{theirs.id}/pause",
        data={"reason": "x", "_csrf_token": token},
    )
    assert paused.status_code == 404
    assert world.services.seen == [
        f"GET scheduler/api/v1/patients/{theirs.id}/page?limit=200",  # the page: one call
        f"GET scheduler/api/v1/patients/{theirs.id}",  # the pause: the record
    ]
    assert "KM-0001" not in mine.text


async def test_a_transfer_goes_only_to_the_persons_own_clinics(
    world: World, client: Client, access_db: Database
) -> None:
    await create_staff(
        access_db,
        login="wang.li",
        name="王丽",
        role=Role.COORDINATOR,
        clinics=["YX", "KM"],
        password=PASSWORD,
    )
    path = await _patient_path(world, client)  # li.na: YX only, no transfer form
    page = await client.get(path)
    assert "转到其他门诊" not in page.text
    world.services.seen.clear()
    forged = await client.post(
        f"{path}/transfer",
        data={
            "clinic_id": str(world.km),
            "clinic_number": "KM-9",
            "_csrf_token": csrf_of(page.text),
        },
    )
    assert forged.status_code == 404  # KM is not li.na's: as its URL would be
    assert not [c for c in world.services.seen if c.startswith("POST")]

    client.cookies.clear()
    form = await client.get("/signin")
    await client.post(
        "/signin",
        data={"login": "wang.li", "password": PASSWORD, "_csrf_token": csrf_of(form.text)},
    )
    page = await client.get(path)
    assert "转到其他门诊" in page.text
    moved = await client.post(
        f"{path}/transfer",
        data={
            "clinic_id": str(world.km),
            "clinic_number": "KM-9",
            "_csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    pid = world.patient_ids["YX-001"]
    assert moved.headers["location"] == f"/clinics/{world.km}/patients/{pid}"
    assert (await client.get(path)).status_code == 404  # no longer under YX
    there = await client.get(moved.headers["location"])
    assert "KM-9" in there.text


async def test_a_display_name_is_shown_escaped(world: World, client: Client) -> None:
    await sign_in(client)
    form = await client.get(f"/clinics/{world.yx}/enrol")
    token = csrf_of(form.text)
    script = "<script>alert(1)</script>"
    kept = await client.post(
        f"/clinics/{world.yx}/enrol",
        data=_enrolment(token, clinic_number="YX-006", display_name=script, dose_time="7"),
    )
    assert script not in kept.text
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in kept.text
    made = await client.post(
        f"/clinics/{world.yx}/enrol",
        data=_enrolment(token, clinic_number="YX-006", display_name=script),
        follow_redirects=False,
    )
    shown = await client.get(made.headers["location"])
    assert shown.status_code == 200
    assert script not in shown.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown.text
    today = await client.get(f"/clinics/{world.yx}/today")
    assert script not in today.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in today.text


async def test_no_patient_data_reaches_the_logs(
    world: World, client: Client, capfd: pytest.CaptureFixture[str]
) -> None:
    path = await _patient_path(world, client)
    page = await client.get(path)
    token = csrf_of(page.text)
    back = (local_today(datetime.now(UTC), ZONE) + timedelta(days=30)).isoformat()
    await client.post(f"{path}/pause", data={"reason": "强制隔离戒毒", "_csrf_token": token})
    await client.post(
        f"{path}/pause", data={"reason": "住院治疗", "resume_on": back, "_csrf_token": token}
    )
    await client.post(
        f"{path}/urine-tests",
        data={
            "taken_on": "2026-11-30",
            "result": "positive",
            "substances": "吗啡",
            "_csrf_token": token,
        },
    )
    await client.get(path)
    await client.post(f"/clinics/{world.yx}/enrol", data=_enrolment(token, dose_time="25:00"))
    await client.post(f"/clinics/{world.yx}/enrol", data=_enrolment(token))
    await client.post(f"/clinics/{world.yx}/enrol", data=_enrolment(token))  # taken: 409
    logged = capfd.readouterr()
    output = logged.out + logged.err
    for secret in (
        *(number for number, _, _ in PATIENTS),
        *(name for _, name, _ in PATIENTS),
        "YX-003",
        "赵六",
        "13900139003",
        "强制隔离戒毒",
        "吗啡",
        SCRIPT_NEED,
        PASSWORD,
    ):
        assert secret not in output, secret
