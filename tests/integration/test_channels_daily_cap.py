"""The per-number daily SMS cap on the real Redis: counts, not timings.

Two `DailyCappedChannel`s on one prefix stand for two workers; the clock is injected, so
"the next day" is a moment the test chooses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from shared.channels import FailureKind, OutboundMessage, SendFailed, SendResult
from shared.channels.console import ConsoleChannel
from shared.channels.daily_cap import (
    DailyCap,
    DailyCappedChannel,
    SmsDailyCapSettings,
    daily_capped,
    number_key,
)
from tests.integration.test_channels_pacing import refused_as_paced_without_redis

NUMBER = "+8613912345678"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def capped(
    redis: Redis,
    isolation: str,
    cap: int,
    reserve: int,
    clock: Clock | None = None,
    inner: ConsoleChannel | None = None,
) -> DailyCappedChannel:
    counts = DailyCap(
        redis,
        f"{isolation}mmt",
        cap,
        reserve,
        number_key(),
        clock=clock or (lambda: datetime.now(UTC)),
    )
    return DailyCappedChannel(inner or ConsoleChannel("sms"), counts)


def message(
    kind: str = "dose", number: str = NUMBER, time_zone: str | None = None
) -> OutboundMessage:
    return OutboundMessage("m-1", number, "今天记得按时来门诊。", kind, time_zone=time_zone)


async def outcome(channel: DailyCappedChannel, sent: OutboundMessage) -> str:
    """ "sent", or the refusal's code."""
    try:
        await channel.send(sent)
    except SendFailed as failure:
        return failure.code or failure.kind.value
    return "sent"


async def test_two_workers_share_one_count_per_number(redis: Redis, isolation: str) -> None:
    first, second = ConsoleChannel("sms"), ConsoleChannel("sms")
    workers = [
        capped(redis, isolation, 4, 1, inner=first),
        capped(redis, isolation, 4, 1, inner=second),
    ]
    results = [await outcome(workers[i % 2], message()) for i in range(6)]
    assert results == ["sent"] * 4 + ["daily_cap"] * 2
    assert len(first.sent) + len(second.sent) == 4
    # Another number has its own count.
    assert await outcome(workers[0], message(number="+8613987654321")) == "sent"


async def test_lessons_stop_early_so_dose_reminders_still_pass(
    redis: Redis, isolation: str
) -> None:
    channel = capped(redis, isolation, 5, 2)
    lessons = [await outcome(channel, message("lesson")) for _ in range(4)]
    assert lessons == ["sent", "sent", "sent", "daily_cap"]  # the fourth lesson is held back
    assert await outcome(channel, message("survey")) == "daily_cap"
    doses = [await outcome(channel, message("dose")) for _ in range(3)]
    assert doses == ["sent", "sent", "daily_cap"]


async def test_a_refusal_is_permanent_with_a_reason_for_coordinators(
    redis: Redis, isolation: str
) -> None:
    """PERMANENT: the dispatcher tries the patient's next channel, or ends the message
    failed with this reason; never dropped, and the provider is not called."""
    inner = ConsoleChannel("sms")
    channel = capped(redis, isolation, 3, 1, inner=inner)
    for _ in range(2):
        await channel.send(message("lesson"))
    with pytest.raises(SendFailed) as refused:
        await channel.send(message("lesson"))
    assert refused.value.kind is FailureKind.PERMANENT
    assert refused.value.code == "daily_cap"
    assert refused.value.reason == (
        "daily cap for this number reached (lesson messages stop at 2 of 3 a day)"
    )
    assert NUMBER not in refused.value.reason
    assert len(inner.sent) == 2


async def test_the_count_starts_again_on_the_next_day(redis: Redis, isolation: str) -> None:
    clock = Clock(datetime(2026, 12, 3, 15, 30, tzinfo=UTC))  # 23:30 in China
    channel = capped(redis, isolation, 2, 0, clock)
    assert [await outcome(channel, message()) for _ in range(3)] == ["sent", "sent", "daily_cap"]
    clock.at += timedelta(hours=1)  # 00:30 in China: a new day
    assert await outcome(channel, message()) == "sent"


async def test_the_day_is_the_patients_own_when_known(redis: Redis, isolation: str) -> None:
    clock = Clock(datetime(2026, 12, 3, 15, 30, tzinfo=UTC))  # 15:30 in London
    channel = capped(redis, isolation, 1, 0, clock)
    london = message(time_zone="Europe/London")
    assert [await outcome(channel, london) for _ in range(2)] == ["sent", "daily_cap"]
    clock.at += timedelta(hours=1)  # a new day in China, the same one in London
    assert await outcome(channel, london) == "daily_cap"
    assert await outcome(channel, message()) == "sent"  # no zone: China's day


async def test_counts_expire_after_their_day_and_name_no_number(
    redis: Redis, isolation: str
) -> None:
    clock = Clock(datetime(2026, 12, 3, 15, 30, tzinfo=UTC))  # 30 minutes before midnight
    channel = capped(redis, isolation, 3, 1, clock)
    for kind in ("dose", "lesson"):
        await channel.send(message(kind))
    keys = [key.decode() async for key in redis.scan_iter(match=f"{isolation}*")]
    assert len(keys) == 1
    key = keys[0]
    assert key.startswith(f"{isolation}mmt:cap:sms:2026-12-03:")
    assert NUMBER.lstrip("+") not in key
    assert NUMBER[-8:] not in key
    assert int(await redis.get(key) or 0) == 2
    # Half an hour to midnight, plus the hour's margin for other hosts' clocks.
    assert 0 < await redis.ttl(key) <= 90 * 60


class Answering(ConsoleChannel):
    """A provider that answers every send with `failure`."""

    def __init__(self, failure: SendFailed) -> None:
        super().__init__("sms")
        self.failure = failure

    async def send(self, message: OutboundMessage) -> SendResult:
        raise self.failure


@pytest.mark.parametrize(
    ("failure", "kept"),
    [
        (SendFailed(FailureKind.PERMANENT, "tencent: bad number", code="InvalidParameter"), 0),
        (SendFailed(FailureKind.RATE_LIMITED, "paced", code="paced", retry_after_s=1), 0),
        (SendFailed(FailureKind.RETRYABLE, "aliyun: HTTP 503", code="503"), 0),
        (SendFailed(FailureKind.RETRYABLE, "network error (timed out)", code="network"), 1),
        (SendFailed(FailureKind.RETRYABLE, "unreadable answer", code="unreadable"), 1),
    ],
)
async def test_a_send_the_provider_surely_refused_gives_its_unit_back(
    redis: Redis, isolation: str, failure: SendFailed, kept: int
) -> None:
    """A timeout or an unreadable answer may have been sent (and counted by the provider):
    its unit stays taken, so the count errs high, never low."""
    channel = capped(redis, isolation, 3, 0, inner=Answering(failure))
    with pytest.raises(SendFailed):
        await channel.send(message())
    key, _ttl = channel.cap.counter(message())
    assert int(await redis.get(key) or 0) == kept


async def test_without_redis_no_provider_is_called_and_the_send_is_paced() -> None:
    await refused_as_paced_without_redis(
        lambda nobody, console: capped(nobody, "gone:", 10, 2, inner=console)
    )


@pytest.mark.parametrize(
    ("vendor", "env", "expected"),
    [
        ("aliyun", {}, (40, 10)),
        ("tencent", {}, (10, 3)),
        ("twilio", {}, None),
        ("twilio", {"SMS_DAILY_CAP_PER_NUMBER": "20"}, (20, 5)),
        ("tencent", {"SMS_DAILY_CAP_RESERVE": "6"}, (10, 6)),
        ("aliyun", {"SMS_DAILY_CAP_PER_NUMBER": "0"}, None),
    ],
)
async def test_the_cap_by_vendor_and_settings(
    monkeypatch: pytest.MonkeyPatch,
    redis: Redis,
    vendor: str,
    env: dict[str, str],
    expected: tuple[int, int] | None,
) -> None:
    for name in ("SMS_DAILY_CAP_PER_NUMBER", "SMS_DAILY_CAP_RESERVE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    console = ConsoleChannel("sms")
    channel = daily_capped(console, redis, vendor, "t", SmsDailyCapSettings())
    if expected is None:
        assert channel is console
    else:
        assert isinstance(channel, DailyCappedChannel)
        assert (channel.cap.cap, channel.cap.reserve) == expected


def test_every_cap_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for name, field in SmsDailyCapSettings.model_fields.items():
        assert f"`{name.upper()}`" in readme, f"{name.upper()} missing from README"
        assert field.description, f"{name} has no description"
