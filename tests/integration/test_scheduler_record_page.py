"""The record page behind a record reply's link: what it shows, in the patient's language
and wording, and that it shows nothing for a tampered, expired, discharged, opted-out or
moved patient's link; every opening of a genuine link is recorded, and only the patient's
own clinic reads those openings."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, select

from services.scheduler import doses, patients
from services.scheduler.dispatch import Dispatcher
from services.scheduler.models import Message, Occurrence
from services.scheduler.readmodel import answer_record_request, opt_out
from services.scheduler.record_links import RecordLink, RecordLinks
from services.scheduler.risk import AssessmentIn, record_assessment, store_instrument
from services.scheduler.risk_cli import read_instruments
from services.scheduler.schemas import DoseIn, TransferIn, UrineTestIn
from shared import sms
from shared.channels import ChannelRegistry
from shared.channels.console import ConsoleChannel
from shared.db import Database
from shared.lesson_links import LessonLink, LessonLinks, LessonLinkSettings
from shared.messages import OptOutRequested, RecordRequested
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.schedutil import ADMIN, clinic, context, dispatch_due, enrol
from tests.integration.test_scheduler_record import RISK

BASE = "https://mmt.example.cn"
Client = AsyncTestClient[Litestar]


@dataclass
class World:
    client: Client
    db: Database
    access_db: Database
    links: RecordLinks
    secret: str
    km: int
    km_token: str


@pytest.fixture
async def world(
    monkeypatch: pytest.MonkeyPatch,
    app_settings: Settings,
    secrets_env: dict[str, str],
    scheduler_db: Database,
    access_db: Database,
    make_token: TokenFactory,
) -> AsyncIterator[World]:
    monkeypatch.setenv("SCHEDULER_PUBLIC_URL", BASE)
    secret = secrets_env["LESSON_LINK_SECRET"]
    await clinic(access_db, "YX")
    km = await clinic(access_db, "KM")
    [(_, instrument)] = read_instruments([RISK])[0]
    await store_instrument(scheduler_db, instrument, None, "test")
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        client.headers["Authorization"] = f"Bearer {await make_token('coordinator', ['YX'])}"
        yield World(
            client,
            scheduler_db,
            access_db,
            RecordLinks(secret, BASE),
            secret,
            km,
            await make_token("coordinator", ["KM"]),
        )


async def _reply(world: World, **patient: Any) -> tuple[int, str]:
    """A patient with doses, a urine test and an assessment asks for their record: the
    patient's id and the link their reply carries."""
    ctx = context(world.db, world.access_db)
    yx = (await world.client.get("/api/v1/clinics")).json()[0]["id"]
    asker = await enrol(ctx, yx, "0001", **patient)
    async with world.db.transaction() as session:
        await session.execute(delete(Occurrence))
    now = datetime.now(UTC)
    await doses.record_dose(ctx, ADMIN, asker.id, DoseIn(taken_at=now))
    await doses.record_urine_test(
        ctx, ADMIN, asker.id, UrineTestIn(taken_on=date(2026, 11, 20), result="negative")
    )
    answers = {item.key: item.answers[0].value for item in read_instruments([RISK])[0][0][1].items}
    await record_assessment(
        ctx,
        ADMIN,
        asker.id,
        AssessmentIn(
            instrument="retention-risk", answers=answers, assessed_by="Dr Li", assessed_at=now
        ),
    )
    async with world.db.transaction() as session:
        await answer_record_request(RecordRequested(patient_id=asker.id), session)
    console = ConsoleChannel("sms")
    dispatcher = Dispatcher(
        world.db, ctx.cipher, ChannelRegistry([console]), None, record_links=world.links
    )
    await dispatch_due(world.db, dispatcher, datetime.now(UTC))
    [reply] = list(console.sent)
    assert sms.segments(reply.text) <= 2
    found = re.search(rf"{re.escape(BASE)}(/r/[A-Za-z0-9_-]+)$", reply.text)
    assert found is not None, reply.text
    return asker.id, found.group(1)


async def _views(world: World, patient_id: int) -> list[str]:
    views = await world.client.get(f"/api/v1/patients/{patient_id}/record-views")
    return [view["outcome"] for view in views.json()]


async def test_the_page_shows_the_month_tests_assessments_and_the_clinic(world: World) -> None:
    patient_id, path = await _reply(world)
    page = await world.client.get(path, headers={"Authorization": ""})
    assert page.status_code == 200
    html = page.text
    assert page.headers["cache-control"] == "no-store"
    assert "我的记录" in html
    assert "本月到门诊" in html
    assert 'class="dosed"' in html
    assert "2026-11-20: 结果正常" in html
    assert "门诊评估" in html
    assert "良好" in html
    assert "+868772012345" in html
    assert "07:00-17:00" in html
    assert "尿" not in html  # discreet wording: nothing on the page names the test
    assert "风险" not in html
    async with world.db.sessions() as session:
        reader = (
            await session.execute(select(Message.id).where(Message.kind == "record_reply"))
        ).scalar_one()
    assert world.links.read(path.removeprefix("/r/")).reader == reader  # never a patient id
    assert await _views(world, patient_id) == ["shown"]


async def test_explicit_wording_in_english(world: World) -> None:
    _patient_id, path = await _reply(world, language="en", explicit_wording=True)
    html = (await world.client.get(path)).text
    assert '<html lang="en">' in html
    assert "Doses this month" in html
    assert "Urine tests" in html
    assert "2026-11-20: all clear" in html
    assert "Risk level" in html


async def test_a_tampered_or_foreign_link_shows_nothing_and_names_no_one(world: World) -> None:
    patient_id, path = await _reply(world)
    token = path.removeprefix("/r/")
    middle = len(token) // 2
    flipped = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    last = token[:-1] + ("A" if token[-1] != "A" else "B")  # maybe only unused bits: refused
    for bad in (flipped, last, token[:-3], "x", token + "AAAA"):
        refused = await world.client.get(f"/r/{bad}")
        assert refused.status_code == 404
        assert "此链接无效" in refused.text
    lesson = LessonLinks(LessonLinkSettings(lesson_link_secret=world.secret))
    lesson_token = lesson.token(LessonLink(str(patient_id), "core", "welcome", 1, "zh-CN"))
    assert (await world.client.get(f"/r/{lesson_token}")).status_code == 404
    assert await _views(world, patient_id) == []


async def test_an_expired_link_is_gone_and_its_opening_recorded(world: World) -> None:
    patient_id, path = await _reply(world)
    async with world.db.sessions() as session:
        reader = (await session.execute(select(Message.id))).scalar_one()
    old = RecordLinks(world.secret, BASE, clock=lambda: time.time() - 8 * 86_400)
    expired = await world.client.get(f"/r/{old.token(RecordLink(reader, 'zh-CN'))}")
    assert expired.status_code == 410
    assert "结果正常" not in expired.text
    assert (await world.client.get(path)).status_code == 200
    assert await _views(world, patient_id) == ["shown", "expired"]


async def test_a_discharged_patient_s_page_shows_nothing(world: World) -> None:
    patient_id, path = await _reply(world)
    ctx = context(world.db, world.access_db)
    await patients.discharge(ctx, ADMIN, patient_id)
    gone = await world.client.get(path)
    assert gone.status_code == 410
    assert "此页面已无法查看" in gone.text
    assert "结果正常" not in gone.text
    assert await _views(world, patient_id) == ["withdrawn"]


async def test_an_opted_out_patient_s_page_shows_nothing(world: World) -> None:
    patient_id, path = await _reply(world)
    async with world.db.transaction() as session:
        await opt_out(OptOutRequested(patient_id=patient_id), session)
    gone = await world.client.get(path)
    assert gone.status_code == 410
    assert "结果正常" not in gone.text
    assert await _views(world, patient_id) == ["withdrawn"]


async def test_a_link_from_the_clinic_a_patient_left_shows_nothing_and_views_stay_in_clinic(
    world: World,
) -> None:
    patient_id, path = await _reply(world)
    km = {"Authorization": f"Bearer {world.km_token}"}
    assert (
        await world.client.get(f"/api/v1/patients/{patient_id}/record-views", headers=km)
    ).status_code == 404
    assert (await world.client.get(path)).status_code == 200
    ctx = context(world.db, world.access_db)
    await patients.transfer(
        ctx, ADMIN, patient_id, TransferIn(clinic_id=world.km, clinic_number="K-1")
    )
    assert (await world.client.get(path)).status_code == 410  # the old clinic's link
    views = await world.client.get(f"/api/v1/patients/{patient_id}/record-views", headers=km)
    assert [v["outcome"] for v in views.json()] == ["withdrawn", "shown"]
    assert (
        await world.client.get(f"/api/v1/patients/{patient_id}/record-views")
    ).status_code == 404  # YX no longer reads a patient who moved to KM


async def test_the_page_shows_the_weekly_hours_and_the_changed_days_to_come(
    world: World,
) -> None:
    yx = (await world.client.get("/api/v1/clinics")).json()[0]["id"]
    week = {day: ["07:00-11:30", "14:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
    week |= {"sat": ["08:00-11:00"], "sun": []}
    put = await world.client.put(f"/api/v1/clinics/{yx}/calendar", json={"week": week})
    assert put.status_code == 200, put.text
    soon = date.today() + timedelta(days=3)
    later = date.today() + timedelta(days=30)
    for day in (soon, later):
        closed = await world.client.put(f"/api/v1/clinics/{yx}/days/{day}", json={"closed": True})
        assert closed.status_code == 200, closed.text
    _, path = await _reply(world)
    html = (await world.client.get(path, headers={"Authorization": ""})).text
    assert "周一: 07:00-11:30, 14:00-17:00" in html
    assert "周六: 08:00-11:00" in html
    assert "周日: 休息" in html
    assert "07:00-17:00" not in html  # the single opening time gives way to the week
    assert f"{soon.isoformat()}: 休息" in html
    assert later.isoformat() not in html  # a fortnight ahead at most
