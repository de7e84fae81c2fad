"""The dispatcher and the SMS daily cap: a refused send is never dropped. It falls back to
the patient's next channel, or ends the message failed with the cap as its reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from services.scheduler.dispatch import Dispatcher
from services.scheduler.models import Attempt, Message
from shared.channels import ChannelRegistry, OutboundMessage
from shared.channels.console import ConsoleChannel
from shared.channels.daily_cap import DailyCap, DailyCappedChannel, number_key
from shared.db import Database
from tests.integration.schedutil import clinic, context, dispatch_due, due_now, enrol

PHONE = "+8613800130001"  # what schedutil enrols for clinic number "0001"


async def capped_sms(redis: Redis, isolation: str) -> tuple[DailyCappedChannel, ConsoleChannel]:
    """An SMS channel with a cap of one a day whose one is already spent on this number."""
    console = ConsoleChannel("sms")
    cap = DailyCap(redis, f"{isolation}mmt", 1, 0, number_key())
    channel = DailyCappedChannel(console, cap)
    await channel.send(OutboundMessage("earlier", PHONE, "earlier today", "dose"))
    console.sent.clear()
    return channel, console


@pytest.mark.parametrize(
    ("order", "outcome"),
    [
        (["sms"], ("failed", None)),
        (["sms", "wechat"], ("delivered", "wechat")),  # the console delivers at once
    ],
)
@pytest.mark.usefixtures("secrets_env")
async def test_a_reminder_the_cap_refuses_falls_back_or_fails_visibly(
    scheduler_db: Database,
    access_db: Database,
    redis: Redis,
    isolation: str,
    order: list[str],
    outcome: tuple[str, str | None],
) -> None:
    ctx = context(scheduler_db, access_db)
    patient = await enrol(
        ctx,
        await clinic(access_db),
        "0001",
        channel_order=order,
        wechat_openid="o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
    )
    now = datetime.now(UTC)
    due_id = await due_now(scheduler_db, patient.id, now)
    sms, console = await capped_sms(redis, isolation)
    wechat = ConsoleChannel("wechat")
    dispatcher = Dispatcher(scheduler_db, ctx.cipher, ChannelRegistry([sms, wechat]), None)
    await dispatch_due(scheduler_db, dispatcher, now)
    async with scheduler_db.sessions() as session:
        message = (
            await session.execute(select(Message).where(Message.occurrence_id == due_id))
        ).scalar_one()
        attempts = (
            await session.execute(
                select(Attempt.channel, Attempt.outcome, Attempt.error).where(
                    Attempt.message_id == message.id
                )
            )
        ).all()
    assert (message.state, message.channel) == outcome
    assert not console.sent  # the provider was never called
    assert ("sms", "permanent") in {(row.channel, row.outcome) for row in attempts}
    cap_reason = "daily cap for this number reached (1 a day)"
    assert cap_reason in {row.error for row in attempts}
    if outcome[0] == "failed":
        assert message.reason == f"sms: {cap_reason}"  # what a coordinator sees
    else:
        assert len(wechat.sent) == 1
