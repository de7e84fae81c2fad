"""A message left `sending` by a dispatcher that died, whose command is gone (Redis lost
it), goes back on the bus and is sent; one still in a live dispatcher's hands is left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update

from services.scheduler import planner
from services.scheduler.dispatch import BatchDispatcher, Dispatcher
from services.scheduler.models import Message, Outbox
from services.scheduler.settings import SchedulerSettings
from services.scheduler.sweeps import rescue_stalled
from shared.bus import decode
from shared.channels import ChannelRegistry
from shared.channels.console import ConsoleChannel
from shared.db import Database
from shared.messages import SendMessage
from tests.integration.schedutil import clinic, context, enrol

pytestmark = pytest.mark.usefixtures("secrets_env")


async def test_a_stalled_message_is_sent_again_and_a_live_one_left_alone(
    scheduler_db: Database, access_db: Database
) -> None:
    ctx = context(scheduler_db, access_db)
    yx = await clinic(access_db)
    now = datetime.now(UTC)
    at = now.strftime("%H:%M")  # due now, in UTC
    for number in ("0001", "0002"):
        await enrol(
            ctx, yx, number, dose_time=at, quiet_start="00:00", quiet_end="00:00", time_zone="UTC"
        )
    await planner.plan_ahead(scheduler_db, SchedulerSettings(), now)
    released = await planner.release_due(
        scheduler_db, SchedulerSettings(), now + timedelta(seconds=1)
    )
    assert released.queued == 2
    async with scheduler_db.transaction() as session:
        ids = sorted((await session.execute(select(Message.id))).scalars())
        # One dispatcher died 3 minutes ago mid-send; another is sending right now. Their
        # commands are gone with a Redis wipe.
        await session.execute(
            update(Message).where(Message.id == ids[0]).values(
                state="sending", updated_at=now - timedelta(minutes=3), attempts=1
            )
        )  # fmt: skip
        await session.execute(
            update(Message).where(Message.id == ids[1]).values(
                state="sending", updated_at=now - timedelta(seconds=5), attempts=1
            )
        )  # fmt: skip
        await session.execute(delete(Outbox))

    assert await rescue_stalled(scheduler_db, now) == 1
    assert await rescue_stalled(scheduler_db, now) == 0  # not again until another takeover
    async with scheduler_db.sessions() as session:
        rows = (await session.execute(select(Outbox))).scalars().all()
    commands = [decode({"m": row.payload}) for row in rows]
    assert [c.message_id for c in commands if isinstance(c, SendMessage)] == [ids[0]]

    console = ConsoleChannel("sms")
    batch = BatchDispatcher(Dispatcher(scheduler_db, ctx.cipher, ChannelRegistry([console]), None))
    async with scheduler_db.transaction() as session:
        await batch.handle([c for c in commands if isinstance(c, SendMessage)], session)
    assert [m.message_id for m in console.sent] == [ids[0]]
    async with scheduler_db.sessions() as session:
        states = {
            row[0]: row[1] for row in await session.execute(select(Message.id, Message.state))
        }
    assert states == {ids[0]: "delivered", ids[1]: "sending"}
