"""Survey questions from feedback become messages like any other: out of quiet hours, once
per question however often it is asked, and sent with the question's own text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select

from services.scheduler import planner
from services.scheduler.dispatch import Dispatcher
from services.scheduler.models import Message, Occurrence, Outbox
from services.scheduler.readmodel import ask_survey_question
from services.scheduler.settings import SchedulerSettings
from shared.bus import decode
from shared.channels import ChannelRegistry
from shared.channels.console import ConsoleChannel
from shared.db import Database
from shared.messages import SendMessage, SurveyRequested
from tests.integration.schedutil import clinic, context, enrol

pytestmark = pytest.mark.usefixtures("secrets_env")
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def test_a_survey_question_waits_out_quiet_hours_and_is_planned_once(
    scheduler_db: Database, access_db: Database
) -> None:
    ctx = context(scheduler_db, access_db)
    patient = await enrol(ctx, await clinic(access_db), "0001")  # quiet 22:00-07:00
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).astimezone(SHANGHAI).date()
    late = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 23, 30, tzinfo=SHANGHAI)
    asked = SurveyRequested(
        patient_id=patient.id,
        run_id=41,
        question_key="usage",
        text="(1/5) 您多久…",
        not_before=late,
    )
    again = SurveyRequested(  # feedback asked again (a new event id): still one message
        patient_id=patient.id,
        run_id=41,
        question_key="usage",
        text="(1/5) 您多久…",
        not_before=late,
    )
    for event in (asked, again):
        async with scheduler_db.transaction() as session:
            await ask_survey_question(event, session)
    async with scheduler_db.sessions() as session:
        (survey,) = (
            await session.execute(select(Occurrence).where(Occurrence.kind == "survey"))
        ).scalars()
    due = survey.due_at.astimezone(SHANGHAI)
    assert (due.date(), due.hour, due.minute) == (tomorrow + timedelta(days=1), 7, 0)
    assert survey.expires_at - survey.due_at == timedelta(hours=24)
    assert survey.payload == {"text": "(1/5) 您多久…"}


async def test_a_due_survey_question_is_sent_with_its_text(
    scheduler_db: Database, access_db: Database
) -> None:
    ctx = context(scheduler_db, access_db)
    patient = await enrol(
        ctx, await clinic(access_db), "0002", quiet_start="00:00", quiet_end="00:00"
    )
    async with scheduler_db.transaction() as session:
        await session.execute(delete(Occurrence))  # only the question, not today's reminders
        await ask_survey_question(
            SurveyRequested(patient_id=patient.id, run_id=7, question_key="helpful", text="Q?"),
            session,
        )
    released = await planner.release_due(scheduler_db, SchedulerSettings(), datetime.now(UTC))
    assert released.queued == 1
    console = ConsoleChannel("sms")
    dispatcher = Dispatcher(scheduler_db, ctx.cipher, ChannelRegistry([console]), None)
    async with scheduler_db.sessions() as session:
        rows = (await session.execute(select(Outbox).order_by(Outbox.seq))).scalars().all()
    commands = [m for m in (decode({"m": r.payload}) for r in rows) if isinstance(m, SendMessage)]
    for command in commands:
        async with scheduler_db.transaction() as session:
            await dispatcher.handle(command, session)
    [sent] = list(console.sent)
    assert (sent.kind, sent.text) == ("survey", "Q?")
    async with scheduler_db.sessions() as session:
        message = (await session.execute(select(Message))).scalar_one()
    assert (message.kind, message.state) == ("survey", "delivered")
