"""The dispatcher and the SMS daily cap: a refused send is never dropped. It falls back to
the patient's next channel, or ends the message failed with the cap as its reason."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from shared.channels import ChannelRegistry, OutboundMessage
from shared.channels.console import ConsoleChannel
from shared.channels.daily_cap import DailyCap, DailyCappedChannel, number_key
from shared.db import Database
from tests.integration.schedutil import dispatch_one

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
    sms, console = await capped_sms(redis, isolation)
    wechat = ConsoleChannel("wechat")
    message, attempts = await dispatch_one(
        scheduler_db,
        access_db,
        ChannelRegistry([sms, wechat]),
        channel_order=order,
        wechat_openid="o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
    )
    assert (message.state, message.channel) == outcome
    assert not console.sent  # the provider was never called
    cap_reason = "daily cap for this number reached (1 a day)"
    assert ("sms", "permanent", cap_reason) in {(a.channel, a.outcome, a.error) for a in attempts}
    if outcome[0] == "failed":
        assert message.reason == f"sms: {cap_reason}"  # what a coordinator sees
    else:
        assert len(wechat.sent) == 1
