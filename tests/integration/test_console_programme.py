"""The console's programme pages over HTTP: who is struggling (ranked, each row saying
why), the needs inbox (urgent first, filters), reports (the delivery funnel matching the
messages stored, ratings, CSV exports) and the audit log (admins only). A coordinator of
YX never sees KM's rows, and no API call carries KM's id; patients' words stay escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from mmt.bench.console_history import FAILED_REASON, seed_console_history
from services.console.struggling import past_days
from services.feedback.grammar import Grammar
from services.feedback.inbound import Inbound, Receiver
from services.scheduler.models import Alert, Message, Patient
from shared.access.staff import create_staff
from shared.access.tokens import Role
from shared.db import Database
from shared.messages import PatientEnrolled
from tests.integration.consoleutil import LOGIN, PASSWORD, World, csrf_of
from tests.integration.test_console import Client, sign_in
from tests.integration.test_console import client as client  # the fixtures
from tests.integration.test_console import world as world
from tests.integration.test_feedback_inbound import handle

KM_NEED = "昆明的病人需要住房"
ADMIN = "zhao.admin"


@pytest.fixture
async def km_need(world: World, feedback_db: Database, access_db: Database) -> None:
    """A need at clinic KM, which YX's coordinator must never see."""
    await handle(
        feedback_db,
        PatientEnrolled(
            patient_id=9_999,
            clinic_id=world.km,
            phone_hash="phone-km",
            openid_hash=None,
            language="zh-CN",
            study_arm=None,
        ),
    )
    receiver = Receiver(feedback_db, access_db, Grammar())
    await receiver.receive(
        Inbound(provider_id="km-1", text=KM_NEED, channel="sms", sender_hash="phone-km")
    )


async def as_admin(client: Client, access_db: Database) -> None:
    """Sign `client` in as an admin (a new session replaces the coordinator's cookie)."""
    await create_staff(
        access_db, login=ADMIN, name="赵管理", role=Role.ADMIN, clinics=[], password=PASSWORD
    )
    form = await client.get("/signin")
    signed = await client.post(
        "/signin",
        data={"login": ADMIN, "password": PASSWORD, "_csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert signed.status_code == 303


def _no_call_names(world: World, clinic_id: int) -> None:
    assert world.services.seen, "the page called the APIs"
    assert not [c for c in world.services.seen if f"/clinics/{clinic_id}/" in c]
    assert not [c for c in world.services.seen if f"clinic_id={clinic_id}" in c]


async def test_today_links_every_programme_page_and_only_admins_see_the_audit_link(
    world: World, client: Client, access_db: Database
) -> None:
    await sign_in(client)
    today = (await client.get(f"/clinics/{world.yx}/today")).text
    for page in ("struggling", "needs", "reports"):
        assert f'href="/clinics/{world.yx}/{page}"' in today
    assert 'href="/audit"' not in today
    await as_admin(client, access_db)
    assert 'href="/audit"' in (await client.get(f"/clinics/{world.yx}/today")).text


async def test_who_is_struggling_ranks_patients_by_their_signals_and_says_why(
    world: World,
    client: Client,
    scheduler_db: Database,
    feedback_db: Database,
    access_db: Database,
    km_need: None,
) -> None:
    first, second = world.patient_ids["YX-001"], world.patient_ids["YX-002"]
    async with scheduler_db.transaction() as session:
        # Enrolled ten days ago and never dosed since: seven missed days each.
        await session.execute(
            update(Patient).values(enrolled_at=datetime.now(UTC) - timedelta(days=10))
        )
        await session.execute(
            update(Patient).where(Patient.id == second).values(opted_out_at=datetime.now(UTC))
        )
        session.add(
            Alert(
                patient_id=second,
                clinic_id=world.yx,
                kind="dropout_risk",
                raised_on=datetime.now(UTC).date(),
                details={"missed_days": 3},
                state="open",
            )
        )
    receiver = Receiver(feedback_db, access_db, Grammar())
    await receiver.receive(
        Inbound(provider_id="r-1", text="1", channel="sms", sender_hash="phone-1")
    )
    await sign_in(client)
    world.services.seen.clear()
    shown = await client.get(f"/clinics/{world.yx}/struggling")
    assert shown.status_code == 200, world.services.seen
    html = shown.text
    # YX-001: an urgent need, an open need, a rating of 1, missed days; YX-002: an alert,
    # opted out, missed days. The urgent need ranks first.
    assert html.index(f'id="patient-{first}"') < html.index(f'id="patient-{second}"')
    row_one = html.split(f'id="patient-{first}"')[1].split("</tr>")[0]
    row_two = html.split(f'id="patient-{second}"')[1].split("</tr>")[0]
    assert "紧急需求" in row_one
    assert "低评分" in row_one
    assert "7 / 7" in row_one
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in row_one
    assert f'href="/clinics/{world.yx}/needs/' in row_one  # the follow-up
    assert f'href="/clinics/{world.yx}/patients/{first}"' in row_one  # and the person
    assert "脱失风险" in row_two
    assert "已退订" in row_two
    assert "紧急需求" not in row_two
    assert "<script>alert(1)" not in html
    assert KM_NEED not in html
    _no_call_names(world, world.km)
    world.services.seen.clear()
    assert (await client.get(f"/clinics/{world.km}/struggling")).status_code == 404
    assert world.services.seen == []


async def test_the_needs_inbox_puts_urgent_first_filters_and_stays_in_its_clinic(
    world: World, client: Client, km_need: None
) -> None:
    await sign_in(client)
    world.services.seen.clear()
    inbox = await client.get(f"/clinics/{world.yx}/needs")
    assert inbox.status_code == 200
    assert inbox.text.index("&lt;script&gt;") < inbox.text.index("我没钱交房租")  # urgent first
    assert "<script>alert(1)" not in inbox.text
    assert KM_NEED not in inbox.text
    assert '<label for="status">' in inbox.text
    _no_call_names(world, world.km)
    only_urgent = await client.get(f"/clinics/{world.yx}/needs?urgency=urgent")
    assert "我没钱交房租" not in only_urgent.text
    resolved = await client.get(f"/clinics/{world.yx}/needs?status=resolved")
    assert "没有符合条件的需求" in resolved.text
    world.services.seen.clear()
    bad = await client.get(f"/clinics/{world.yx}/needs?status=lost")
    assert bad.status_code == 400
    assert "筛选值无效" in bad.text
    assert "status" in bad.text
    assert (await client.get(f"/clinics/{world.km}/needs")).status_code == 404
    assert world.services.seen == []


async def test_reports_count_every_stored_message_and_export_csv(
    world: World, client: Client, scheduler_db: Database
) -> None:
    days = past_days(datetime.now(UTC), "Asia/Shanghai")
    await seed_console_history(scheduler_db, world.yx, days[0], days[-1])
    async with scheduler_db.transaction() as session:  # at least one failure, with its reason
        one = select(func.min(Message.id)).scalar_subquery()
        await session.execute(
            update(Message).where(Message.id == one).values(state="failed", reason=FAILED_REASON)
        )
    async with scheduler_db.sessions() as session:
        stored = (
            await session.execute(select(Message.state, func.count()).group_by(Message.state))
        ).all()
    await sign_in(client)
    world.services.seen.clear()
    shown = await client.get(f"/clinics/{world.yx}/reports")
    assert shown.status_code == 200
    table = shown.text.split('class="funnel"')[1].split("</table>")[0]
    cells = [
        int(cell.split("<")[0]) for row in table.split("<tr>")[2:] for cell in row.split("<td>")[3:]
    ]
    assert sum(cells) == sum(n for _, n in stored) == 2 * 7
    assert "<svg" in shown.text
    assert 'role="img"' in shown.text
    assert FAILED_REASON in shown.text.split('class="reasons-table"')[1]
    _no_call_names(world, world.km)
    exported = await client.get(f"/clinics/{world.yx}/exports/replies.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    world.services.seen.clear()
    assert (await client.get(f"/clinics/{world.yx}/exports/patients.csv")).status_code == 404
    assert (await client.get(f"/clinics/{world.km}/exports/replies.csv")).status_code == 404
    assert (await client.get(f"/clinics/{world.km}/reports")).status_code == 404
    assert world.services.seen == []


async def test_the_audit_log_is_for_admins_and_names_the_person_who_looked(
    world: World, client: Client, access_db: Database
) -> None:
    await sign_in(client)
    world.services.seen.clear()
    refused = await client.get("/audit")
    assert refused.status_code == 404
    assert world.services.seen == []  # a coordinator's request asks no API
    await client.get(f"/clinics/{world.yx}/struggling")
    await as_admin(client, access_db)
    log = await client.get(f"/audit?clinic={world.yx}")
    assert log.status_code == 200
    assert "li.na" in log.text
    assert "/api/v1/clinics/{clinic_id}/signals" in log.text
    bad = await client.get("/audit?day=yesterday")
    assert bad.status_code == 400
    assert "day" in bad.text


async def test_a_need_is_assigned_on_its_page_and_the_inbox_says_to_whom(
    world: World, client: Client
) -> None:
    await sign_in(client)
    inbox = await client.get(f"/clinics/{world.yx}/needs")
    urgent_row = inbox.text.split('class="urgent"')[1].split("</tr>")[0]
    path = urgent_row.split(f'href="/clinics/{world.yx}/needs/')[1].split('"')[0]
    path = f"/clinics/{world.yx}/needs/{path}"
    shown = await client.get(path)
    assert '<label for="assignee">' in shown.text
    token = csrf_of(shown.text)
    refused = await client.post(
        path, data={"assignee": "nobody.here", "note": "先记下来", "_csrf_token": token}
    )
    assert refused.status_code == 400
    assert "本门诊没有使用该登录名的在职工作人员" in refused.text
    assert ">先记下来</textarea>" in refused.text
    assert 'value="nobody.here"' in refused.text
    saved = await client.post(
        path, data={"assignee": LOGIN.upper(), "_csrf_token": token}, follow_redirects=False
    )
    assert saved.status_code == 303
    assert "<dd>li.na</dd>" in (await client.get(path)).text
    row = (await client.get(f"/clinics/{world.yx}/needs")).text.split('class="urgent"')[1]
    assert "<td>li.na</td>" in row.split("</tr>")[0]
