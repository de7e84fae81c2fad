"""The console over HTTP: sign-in and lockout, CSRF, session expiry, clinic scope with no
API call for another clinic's id, escaped patient text, audit under the person's name,
and no patient data in the logs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from services.console.settings import ConsoleSettings
from services.scheduler.models import Alert
from shared.access.audit import AuditFilter, query_audit
from shared.access.models import ApiToken, AuditEntry, Staff
from shared.db import Database
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.integration.consoleutil import (
    LOGIN,
    PASSWORD,
    PATIENTS,
    SCRIPT_NEED,
    World,
    client_of,
    console_world,
    csrf_of,
)

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def world(
    app_settings: Settings,
    access_db: Database,
    scheduler_db: Database,
    feedback_db: Database,
    make_token: TokenFactory,
) -> AsyncIterator[World]:
    settings = ConsoleSettings(
        console_scheduler_base_url="http://scheduler",
        console_feedback_base_url="http://feedback",
        console_content_base_url="http://content",
        console_idle_minutes=30,
        console_absolute_hours=1,
    )
    async with console_world(app_settings, access_db, feedback_db, make_token, settings) as w:
        yield w


@pytest.fixture
async def client(world: World) -> AsyncIterator[Client]:
    async with client_of(world.console, world.portal) as test_client:
        yield test_client


def ended_at(path: str) -> str:
    """Where an ended session sends the person: sign-in, saying so, then back to `path`."""
    return f"/signin?{urlencode({'next': path, 'expired': '1'})}"


async def sign_in(client: Client, password: str = PASSWORD) -> tuple[int, str]:
    form = await client.get("/signin")
    answer = await client.post(
        "/signin",
        data={"login": LOGIN, "password": password, "_csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    return answer.status_code, answer.text


async def test_sign_in_shows_today_and_one_click_records_a_dose_audited_as_the_person(
    world: World, client: Client, access_db: Database
) -> None:
    status, _ = await sign_in(client)
    assert status == 303
    cookie = next(c for c in client.cookies.jar if c.name == "console_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    home = await client.get("/", follow_redirects=False)
    assert home.headers["location"] == f"/clinics/{world.yx}/today"
    today = await client.get(home.headers["location"])
    assert today.status_code == 200
    assert '<html lang="zh-CN">' in today.text
    assert "今日" in today.text
    waiting = today.text.split('id="waiting"')[1].split('id="dosed"')[0]
    assert all(name in waiting for _, name, _ in PATIENTS)
    assert today.text.index("需要关注") < today.text.index('id="waiting"')  # needs first

    pid = world.patient_ids["YX-002"]
    board = await client.post(
        f"/clinics/{world.yx}/patients/{pid}/dose",
        data={"_csrf_token": csrf_of(today.text)},
        headers={"HX-Request": "true"},
    )
    assert board.status_code == 200
    assert board.text.startswith('<div id="board">')
    dosed = board.text.split('id="dosed"')[1]
    assert "王芳" in dosed
    assert "王芳" not in board.text.split('id="waiting"')[1].split('id="dosed"')[0]

    async with access_db.sessions() as session:
        audited = (
            await session.execute(
                select(AuditEntry.route, Staff.login)
                .join(ApiToken, ApiToken.id == AuditEntry.token_id)
                .join(Staff, Staff.id == ApiToken.staff_id)
                .where(AuditEntry.method == "POST")
            )
        ).all()
    assert audited == [("/api/v1/patients/{patient_id}/doses", LOGIN)]
    logged = await query_audit(access_db, AuditFilter(limit=1000))
    assert {e.staff_login for e in logged if e.route.endswith("/doses")} == {LOGIN}
    assert {e.staff_login for e in logged if e.route == "/api/v1/patients"} == {None}  # admin
    assert all(e.staff_login == LOGIN for e in logged if e.route.endswith("/roster"))


async def test_five_wrong_passwords_lock_the_account(client: Client) -> None:
    for _ in range(4):
        status, page = await sign_in(client, "wrong password!")
        assert (status, "用户名或密码错误" in page) == (400, True)
    status, page = await sign_in(client, "wrong password!")
    assert (status, "账号已被暂时锁定" in page) == (400, True)
    status, page = await sign_in(client)  # the right one, too late
    assert (status, "账号已被暂时锁定" in page) == (400, True)


async def test_a_form_without_its_csrf_token_is_refused_before_anything_runs(
    world: World, client: Client
) -> None:
    await client.get("/signin")
    refused = await client.post("/signin", data={"login": LOGIN, "password": PASSWORD})
    assert refused.status_code == 403
    assert "表单已过期" in refused.text
    assert "console_session" not in client.cookies
    await sign_in(client)
    pid = world.patient_ids["YX-001"]
    forged = await client.post(f"/clinics/{world.yx}/patients/{pid}/dose", data={})
    assert forged.status_code == 403
    assert not [call for call in world.services.seen if call.startswith("POST")]


async def test_an_idle_session_ends_and_its_token_is_revoked(
    world: World, client: Client, access_db: Database
) -> None:
    await sign_in(client)
    today = f"/clinics/{world.yx}/today"
    world.clock.advance(timedelta(minutes=29))
    assert (await client.get(today)).status_code == 200
    world.clock.advance(timedelta(minutes=31))
    ended = await client.get(today, follow_redirects=False)
    assert (ended.status_code, ended.headers["location"]) == (303, ended_at(today))
    form = await client.get(ended.headers["location"])
    assert "登录已过期" in form.text
    back = await client.post(
        "/signin",
        data={
            "login": LOGIN,
            "password": PASSWORD,
            "next": today,
            "_csrf_token": csrf_of(form.text),
        },
        follow_redirects=False,
    )
    assert back.headers["location"] == today
    async with access_db.sessions() as session:
        tokens = (
            (
                await session.execute(
                    select(ApiToken.revoked_at).where(ApiToken.staff_id.is_not(None))
                )
            )
            .scalars()
            .all()
        )
    assert len(tokens) == 2  # the idle session's, and the new one's
    assert sum(revoked is not None for revoked in tokens) == 1


async def test_a_session_in_use_still_ends_at_its_absolute_limit(
    world: World, client: Client
) -> None:
    await sign_in(client)
    today = f"/clinics/{world.yx}/today"
    for _ in range(3):  # 3 x 20 minutes: never idle, an hour old
        world.clock.advance(timedelta(minutes=20))
        page = await client.get(today, follow_redirects=False)
        assert page.status_code == 200
    world.clock.advance(timedelta(minutes=1))
    # A click on the open page (htmx): the whole page goes to sign-in, nothing recorded.
    pid = world.patient_ids["YX-001"]
    clicked = await client.post(
        f"/clinics/{world.yx}/patients/{pid}/dose",
        data={"_csrf_token": csrf_of(page.text)},
        headers={"HX-Request": "true"},
    )
    assert (clicked.status_code, clicked.headers["hx-redirect"]) == (200, ended_at(today))
    assert not [call for call in world.services.seen if call.startswith("POST")]
    ended = await client.get(today, follow_redirects=False)
    assert (ended.status_code, ended.headers["location"]) == (
        303,
        "/signin?next=" + today.replace("/", "%2F"),
    )


async def test_another_clinic_is_a_404_page_and_its_id_never_reaches_an_api(
    world: World, client: Client
) -> None:
    await sign_in(client)
    world.services.seen.clear()
    other = await client.get(f"/clinics/{world.km}/today")
    assert other.status_code == 404
    assert "未找到" in other.text
    assert (await client.get("/clinics/0/today")).status_code == 404
    page = await client.get(f"/clinics/{world.yx}/today")
    posted = await client.post(
        f"/clinics/{world.km}/patients/1/dose", data={"_csrf_token": csrf_of(page.text)}
    )
    assert posted.status_code == 404
    assert world.services.seen  # the page of YX did call the APIs
    assert not [c for c in world.services.seen if f"/clinics/{world.km}/" in c]
    assert not [c for c in world.services.seen if f"clinic_id={world.km}" in c]


async def test_a_dropout_alert_is_acknowledged_in_one_click_once(
    world: World, client: Client, scheduler_db: Database, access_db: Database
) -> None:
    async with scheduler_db.transaction() as session:
        alert = Alert(
            patient_id=world.patient_ids["YX-001"],
            clinic_id=world.yx,
            kind="dropout_risk",
            raised_on=date.today(),
            details={"missed_days": 3},
            state="open",
        )
        session.add(alert)
    await sign_in(client)
    today = await client.get(f"/clinics/{world.yx}/today")
    assert "脱失风险" in today.text
    path = f"/clinics/{world.yx}/alerts/{alert.id}/acknowledge"
    board = await client.post(
        path, data={"_csrf_token": csrf_of(today.text)}, headers={"HX-Request": "true"}
    )
    assert board.status_code == 200
    assert "脱失风险" not in board.text
    again = await client.post(path, data={"_csrf_token": csrf_of(today.text)})
    assert again.status_code == 200  # a colleague was quicker (409): the page, no error
    async with scheduler_db.sessions() as session:
        stored = await session.get(Alert, alert.id)
    assert stored is not None
    assert stored.state == "acknowledged"
    async with access_db.sessions() as session:
        by = (
            await session.execute(
                select(Staff.login)
                .join(ApiToken, ApiToken.staff_id == Staff.id)
                .where(ApiToken.id == stored.acknowledged_by)
            )
        ).scalar_one()
    assert by == LOGIN


async def test_a_patients_words_are_shown_escaped(world: World, client: Client) -> None:
    await sign_in(client)
    today = await client.get(f"/clinics/{world.yx}/today")
    assert "<script>alert(1)</script>" not in today.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in today.text
    assert "script-src" not in today.headers["content-security-policy"]  # default-src only
    assert today.headers["content-security-policy"].startswith("default-src 'self'")


async def test_english_by_switch_and_sign_out_everywhere_ends_other_sessions(
    world: World, client: Client
) -> None:
    await sign_in(client)
    first_desk = client.cookies["console_session"]
    client.cookies.delete("console_session")
    await sign_in(client)  # the same person at a second desk: a second session
    today = await client.get(f"/clinics/{world.yx}/today")
    switched = await client.post(
        "/language",
        data={
            "lang": "en",
            "next": f"/clinics/{world.yx}/today",
            "_csrf_token": csrf_of(today.text),
        },
    )
    assert '<html lang="en">' in switched.text
    assert "Not yet come" in switched.text
    await client.post("/signout/everywhere", data={"_csrf_token": csrf_of(switched.text)})
    assert "console_session" not in client.cookies
    client.cookies.set("console_session", first_desk)
    today_path = f"/clinics/{world.yx}/today"
    ended = await client.get(today_path, follow_redirects=False)
    assert (ended.status_code, ended.headers["location"]) == (303, ended_at(today_path))
    elsewhere = await client.post(
        "/language",
        data={"lang": "en", "next": "//evil.example/", "_csrf_token": csrf_of(switched.text)},
        follow_redirects=False,
    )
    assert elsewhere.headers["location"] == "/"  # never another site


async def test_no_patient_data_reaches_the_logs(
    world: World, client: Client, capfd: pytest.CaptureFixture[str]
) -> None:
    await sign_in(client)
    today = await client.get(f"/clinics/{world.yx}/today")
    pid = world.patient_ids["YX-001"]
    await client.post(
        f"/clinics/{world.yx}/patients/{pid}/dose", data={"_csrf_token": csrf_of(today.text)}
    )
    await client.get(f"/clinics/{world.km}/today")
    logged = capfd.readouterr()
    output = logged.out + logged.err
    for number, name, _ in PATIENTS:
        assert number not in output
        assert name not in output
    assert SCRIPT_NEED not in output
    assert "我没钱交房租" not in output
    assert PASSWORD not in output
