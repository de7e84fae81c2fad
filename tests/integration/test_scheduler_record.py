"""A record request (记录 / 查询 / RECORD) answered end to end: the dates dosed this week,
the latest urine result, the risk band from the latest assessment and the next appointment,
in the patient's language and wording, within two SMS segments."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete

from services.scheduler import doses
from services.scheduler.dispatch import Dispatcher
from services.scheduler.models import Occurrence
from services.scheduler.readmodel import answer_record_request
from services.scheduler.risk import AssessmentIn, record_assessment, store_instrument
from services.scheduler.risk_cli import read_instruments
from services.scheduler.schemas import DoseIn, ReminderIn, UrineTestIn
from shared import sms
from shared.channels import ChannelRegistry
from shared.channels.console import ConsoleChannel
from shared.db import Database
from shared.messages import RecordRequested
from shared.stigma import find_stigma
from tests.integration.schedutil import ADMIN, clinic, context, dispatch_due, enrol

pytestmark = pytest.mark.usefixtures("secrets_env")
RISK = Path(__file__).parents[2] / "risk"
ZONE = ZoneInfo("Asia/Shanghai")


async def _reply(scheduler_db: Database, access_db: Database, **patient: Any) -> str:
    ctx = context(scheduler_db, access_db)
    asker = await enrol(ctx, await clinic(access_db), "0001", **patient)
    async with scheduler_db.transaction() as session:
        await session.execute(delete(Occurrence))
    now = datetime.now(UTC)
    today = now.astimezone(ZONE).date()
    for days_ago in (3, 1, 0):
        taken = now - timedelta(days=days_ago)
        await doses.record_dose(ctx, ADMIN, asker.id, DoseIn(taken_at=taken))
    await doses.record_urine_test(
        ctx, ADMIN, asker.id, UrineTestIn(taken_on=date(2026, 11, 20), result="positive")
    )
    [(_, instrument)] = read_instruments([RISK])[0]
    await store_instrument(scheduler_db, instrument, None, "test")
    answers = {item.key: item.answers[-1].value for item in instrument.items}  # all highest
    assessed = AssessmentIn(
        instrument="retention-risk", answers=answers, assessed_by="Dr Li", assessed_at=now
    )
    await record_assessment(ctx, ADMIN, asker.id, assessed)
    later = today + timedelta(days=4)
    await doses.add_reminder(
        ctx, ADMIN, asker.id, ReminderIn(kind="appointment", on=later, at="09:30")
    )
    async with scheduler_db.transaction() as session:
        await answer_record_request(RecordRequested(patient_id=asker.id), session)
    console = ConsoleChannel("sms")
    await dispatch_due(
        scheduler_db,
        Dispatcher(scheduler_db, ctx.cipher, ChannelRegistry([console]), None),
        datetime.now(UTC),  # the request is due when it was made, after `now`
    )
    [reply] = list(console.sent)
    assert reply.kind == "record_reply"
    assert sms.segments(reply.text) <= 2
    return reply.text


def _days(*days_ago: int) -> list[date]:
    today = datetime.now(UTC).astimezone(ZONE).date()
    return [today - timedelta(days=n) for n in days_ago]


@pytest.mark.parametrize("explicit", [False, True])
async def test_the_record_reply_in_chinese(
    scheduler_db: Database, access_db: Database, explicit: bool
) -> None:
    text = await _reply(scheduler_db, access_db, explicit_wording=explicit)
    dates = "、".join(f"{d.month}/{d.day}" for d in _days(3, 1, 0))
    later = _days(-4)[0]
    visits = "服药" if explicit else "到门诊"
    assert text.startswith(f"L.W.，过去7天你{visits}3天（{dates}）。")
    assert "（11/20）：请找医生聊一聊。" in text
    assert f"下次预约：{later.month}/{later.day} 09:30。" in text
    if explicit:
        assert "最近一次尿检" in text
        assert "风险评估：高" in text
    else:
        assert "门诊评估：请找医生聊聊" in text
        assert find_stigma(text) == []
        assert "尿" not in text
        assert "风险" not in text


@pytest.mark.parametrize("explicit", [False, True])
async def test_the_record_reply_in_english(
    scheduler_db: Database, access_db: Database, explicit: bool
) -> None:
    text = await _reply(scheduler_db, access_db, language="en", explicit_wording=explicit)
    assert "last 7 days: 3 " in text
    assert "Nov 20: please talk to your doctor." in text
    assert "09:30." in text
    if explicit:
        assert "3 doses" in text
        assert "Risk level: high." in text
    else:
        assert "3 visits" in text
        assert "Check-in: please talk to us." in text
        assert find_stigma(text) == []
        assert "urine" not in text.lower()
