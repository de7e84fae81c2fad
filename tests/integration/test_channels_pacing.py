"""Pacing on the real Redis: counts of allowed and refused within one window, not timings.

Windows are long (tens of seconds) so that everything a test does happens inside one, and
several `Pacer`s on one key stand for several workers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.channels import Channel, FailureKind, OutboundMessage, SendFailed
from shared.channels.console import ConsoleChannel
from shared.channels.pacing import UNCHECKED_RETRY_S, PacedChannel, Pacer, parse_rate
from shared.net import free_port
from shared.sms import segments


def pacer(redis: Redis, isolation: str, rate: str) -> Pacer:
    parsed = parse_rate(rate)
    assert parsed is not None
    return Pacer(redis, f"{isolation}pace", parsed)


async def test_workers_sharing_a_rate_get_exactly_its_amount(redis: Redis, isolation: str) -> None:
    workers = [pacer(redis, isolation, "5/30 seconds") for _ in range(3)]
    waits = await asyncio.gather(*(w.try_acquire() for _ in range(10) for w in workers))
    allowed = [w for w in waits if w == 0.0]
    refused = [w for w in waits if w > 0.0]
    assert len(allowed) == 5
    assert len(refused) == 25
    assert all(0 < wait <= 30 for wait in refused)


async def test_a_cost_takes_that_many_units(redis: Redis, isolation: str) -> None:
    limit = pacer(redis, isolation, "4/30 seconds")
    assert await limit.try_acquire(cost=3) == 0.0
    assert await limit.try_acquire(cost=2) > 0  # only one unit left
    assert await limit.try_acquire(cost=1) == 0.0
    assert await limit.try_acquire(cost=1) > 0


async def test_a_cost_above_the_whole_rate_waits_for_an_empty_window(
    redis: Redis, isolation: str
) -> None:
    limit = pacer(redis, isolation, "2/30 seconds")
    assert await limit.try_acquire(cost=5) == 0.0  # counted as the full window
    assert await limit.try_acquire(cost=1) > 0


async def test_acquire_hands_back_a_wait_longer_than_it_may_wait(
    redis: Redis, isolation: str
) -> None:
    limit = pacer(redis, isolation, "1/30 seconds")
    assert await limit.acquire(max_wait_s=0.5) == 0.0
    wait = await limit.acquire(max_wait_s=0.5)
    assert 0.5 < wait <= 30


async def test_acquire_waits_when_the_wait_fits(redis: Redis, isolation: str) -> None:
    limit = pacer(redis, isolation, "2/1 second")
    results = [await limit.acquire(max_wait_s=3) for _ in range(4)]
    assert results == [0.0, 0.0, 0.0, 0.0]  # the last two waited for the next window


async def test_a_paced_channel_sends_within_the_rate_and_hands_back_the_rest(
    redis: Redis, isolation: str
) -> None:
    console = ConsoleChannel("sms")
    paced = PacedChannel(
        console,
        pacer(redis, isolation, "3/30 seconds"),
        cost=lambda message: segments(message.text),
        max_wait_s=0,
    )
    outcomes: list[str | SendFailed] = []
    for i in range(6):
        try:
            await paced.send(OutboundMessage(f"m-{i}", "+8613900000001", "hello", "dose"))
            outcomes.append("sent")
        except SendFailed as failure:
            outcomes.append(failure)
    assert outcomes[:3] == ["sent"] * 3
    refused = [o for o in outcomes[3:] if isinstance(o, SendFailed)]
    assert len(refused) == 3
    assert {(f.kind, f.code) for f in refused} == {(FailureKind.RATE_LIMITED, "paced")}
    assert all(f.retry_after_s and f.retry_after_s > 0 for f in refused)
    assert len(console.sent) == 3
    assert paced.code == "sms"


@pytest.mark.parametrize("text", ["", "  ", "none", "None", " off "])
def test_an_empty_or_none_rate_means_no_pacing(text: str) -> None:
    assert parse_rate(text) is None


def test_twilio_rate_none_turns_pacing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.channels.settings import TwilioSettings

    monkeypatch.setenv("TWILIO_RATE", "")
    assert parse_rate(TwilioSettings().twilio_rate) is not None  # empty: the default rate
    monkeypatch.setenv("TWILIO_RATE", "none")
    assert parse_rate(TwilioSettings().twilio_rate) is None


def test_a_malformed_rate_is_refused_with_an_example() -> None:
    with pytest.raises(ValueError, match="1/second"):
        parse_rate("fast please")


async def refused_as_paced_without_redis(wrap: Callable[[Redis, ConsoleChannel], Channel]) -> None:
    """Sends through `wrap`(a Redis nobody answers, a console) and checks that nothing
    was sent and the message was paced (queued again, no attempt counted), not crashed."""
    nobody = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", retry=Retry(NoBackoff(), 0))
    console = ConsoleChannel("sms")
    try:
        with pytest.raises(SendFailed) as refused:
            await wrap(nobody, console).send(
                OutboundMessage("m-1", "+8613900000001", "hello", "dose")
            )
    finally:
        await nobody.aclose()
    assert (refused.value.kind, refused.value.code) == (FailureKind.RATE_LIMITED, "paced")
    assert refused.value.retry_after_s == UNCHECKED_RETRY_S
    assert "cannot be checked (Redis: ConnectionError)" in refused.value.reason
    assert not console.sent


async def test_a_paced_channel_without_redis_refuses_as_paced_and_calls_no_provider() -> None:
    """Redis down or just restarted: the rate cannot be checked, so nothing is sent."""
    await refused_as_paced_without_redis(
        lambda nobody, console: PacedChannel(
            console, pacer(nobody, "gone:", "3/30 seconds"), max_wait_s=0
        )
    )
