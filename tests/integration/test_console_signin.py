"""Sign-in over HTTP: a form posted after the session ended loses nothing silently (kept
for its person, given back after signing in again, never to someone else), and failed
sign-ins are throttled per client address without locking the account."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from redis.asyncio import Redis
from sqlalchemy import select

from services.console.throttle import SignInThrottle
from shared.access.models import Staff
from shared.db import Database
from shared.settings import Settings
from tests.integration.consoleutil import LOGIN, PASSWORD, World, csrf_of
from tests.integration.test_console import Client, sign_in
from tests.integration.test_console import client as client  # the fixtures
from tests.integration.test_console import world as world
from tests.integration.test_scheduler_api import add_alert
from tests.integration.test_staff import coordinator


async def _sign_in_as(client: Client, login: str, to: str) -> str:
    form = await client.get("/signin")
    answer = await client.post(
        "/signin",
        data={"login": login, "password": PASSWORD, "next": to, "_csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.headers["location"] == to
    return (await client.get(to)).text


async def test_a_form_posted_after_the_session_ended_comes_back_to_its_person_only(
    world: World,
    client: Client,
    access_db: Database,
    scheduler_db: Database,
    redis: Redis,
    app_settings: Settings,
) -> None:
    await coordinator(access_db, "wang.li")  # a colleague at the same clinic
    await sign_in(client)
    client.cookies.set("console_lang", "en")
    patient = f"/clinics/{world.yx}/patients/{world.patient_ids['YX-001']}"
    shown = await client.get(patient)
    token = csrf_of(shown.text)
    world.clock.advance(timedelta(minutes=31))  # idle too long while typing
    typed = {"reason": "强制隔离戒毒 <b>", "resume_on": "2027-03-01", "_csrf_token": token}
    ended = await client.post(f"{patient}/pause", data=typed, follow_redirects=False)
    assert ended.status_code == 303
    assert "kept=1" in ended.headers["location"]
    assert "next=" + patient.replace("/", "%2F") in ended.headers["location"]
    assert not [c for c in world.services.seen if c.startswith("POST")]  # nothing sent
    kept = [
        await redis.get(k)
        async for k in redis.scan_iter(f"{app_settings.bus.bus_prefix}:console:kept:*")
    ]
    assert len(kept) == 1
    assert kept[0] is not None
    assert token.encode() not in kept[0]  # never the CSRF token
    signin = await client.get(ended.headers["location"])
    assert "What you typed is kept for 30 minutes" in signin.text

    # Someone else signs in on this browser: nothing of it is shown to them.
    other = await _sign_in_as(client, "wang.li", patient)
    assert "强制隔离戒毒" not in other
    await client.post("/signout", data={"_csrf_token": csrf_of(other)})
    # The same person: the form is back as typed, with a message, and only once.
    back = await _sign_in_as(client, LOGIN, patient)
    assert "is back in the form below" in back
    reason = re.search(r'id="pause-reason" [^>]*value="([^"]*)"', back)
    assert reason
    assert unescape(reason.group(1)) == "强制隔离戒毒 <b>"
    assert 'value="2027-03-01"' in back
    assert "is back in the form below" not in (await client.get(patient)).text
    assert not [c for c in world.services.seen if c.endswith("/pause")]

    # A note on an alert, typed on Today when the session ends, comes back under its alert.
    alert_id = await add_alert(scheduler_db, world.patient_ids["YX-002"], world.yx)
    today = f"/clinics/{world.yx}/today"
    token = csrf_of((await client.get(today)).text)
    world.clock.advance(timedelta(minutes=31))
    note = {"text": "Sister says: in hospital", "outcome": "reached", "_csrf_token": token}
    ended = await client.post(
        f"/clinics/{world.yx}/alerts/{alert_id}/followups",
        data=note,
        headers={"HX-Request": "true"},
    )
    assert "kept=1" in ended.headers["hx-redirect"]  # htmx: the whole page goes to sign-in
    board = await _sign_in_as(client, LOGIN, today)
    assert "<details open>" in board
    assert ">Sister says: in hospital</textarea>" in board
    assert '<option value="reached" selected>' in board


async def test_a_form_whose_person_is_unknown_says_it_was_lost(
    world: World, client: Client
) -> None:
    await client.get("/signin")
    client.cookies.set("console_lang", "en")
    client.cookies.set("console_session", "a-session-redis-no-longer-has")
    form = await client.get("/signin")
    posted = await client.post(
        f"/clinics/{world.yx}/enrol",
        data={"clinic_number": "YX-9", "display_name": "赵六", "_csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert "lost=1" in posted.headers["location"]
    page = await client.get(posted.headers["location"])
    assert "what you typed could not be kept" in page.text


async def test_failed_sign_ins_are_throttled_per_address_before_any_account_is_locked(
    world: World, client: Client, access_db: Database, redis: Redis, app_settings: Settings
) -> None:
    form = await client.get("/signin")
    token = csrf_of(form.text)

    async def attempt(login: str, password: str) -> tuple[int, str, str | None]:
        answer = await client.post(
            "/signin",
            data={"login": login, "password": password, "_csrf_token": token},
            follow_redirects=False,
        )
        return answer.status_code, answer.text, answer.headers.get("retry-after")

    # All but one of the address's allowance spent already (as many failed sign-ins at
    # other logins would; seeded, as each real one costs an argon2 check).
    limit = world.settings.console_signin_failures_per_address
    throttle = SignInThrottle(
        redis, app_settings.bus.bus_prefix, world.clock, limit, timedelta(minutes=15)
    )
    for _ in range(limit - 1):
        await throttle.failed("testclient")  # the test client's address
    assert (await attempt("someone.else", "wrong password!"))[0] == 400  # the last allowed
    status, page, retry = await attempt(LOGIN, "wrong password!")
    assert status == 429
    assert retry is not None
    assert 0 < int(retry) <= 15 * 60
    assert "登录失败次数过多" in page
    for _ in range(5):  # throttled attempts never reach the account: no lockout
        assert (await attempt(LOGIN, "wrong password!"))[0] == 429
    assert (await attempt(LOGIN, PASSWORD))[0] == 429  # not even the right password is checked
    async with access_db.sessions() as session:
        staff = (await session.execute(select(Staff).where(Staff.login == LOGIN))).scalar_one()
    assert (staff.failed_attempts, staff.locked_until) == (0, None)
    assert await throttle.retry_after("192.0.2.7") is None  # another address: untouched

    world.clock.advance(timedelta(minutes=15, seconds=1))  # the window slides past them
    assert (await attempt(LOGIN, PASSWORD))[0] == 303
