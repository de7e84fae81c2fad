"""A per-number daily cap on the SMS channel, counted in Redis and shared by every worker.

Domestic SMS providers refuse a number's messages past a daily count (Aliyun 50 per
signature + template + number in 24 hours, Tencent 10 a day by default). Hitting their cap
is the worst way to find it: the refused message is whichever comes next, often the dose
reminder. So the suite counts each number's sends itself and stops below the provider:
lessons and surveys may use only the cap minus a reserve, so the fourth lesson is the one
held back and dose reminders and replies still have room.

A send the cap refuses fails as PERMANENT with code "daily_cap" and a reason saying so:
the dispatcher then tries the patient's next channel (a WeChat lesson does not touch the
SMS count), or ends the message "failed" with that reason for coordinators to see. Not
RATE_LIMITED until midnight: a reminder's window closes long before, and a retry would
skip the fallback. The provider is never called, so nothing is billed.

The day is the patient's local day when the message carries a time zone, else China's.
Counts live at `{prefix}:cap:sms:{day}:{hash}`, where the hash is an HMAC of the number
under a key derived from IDENTIFIER_HMAC_KEY (so a Redis dump does not give the numbers
back by brute force), and expire an hour after that day ends. A send the provider surely
did not take (refused, rate limited, a 5xx) gives its unit back; a timeout or an unreadable
answer keeps it, since the provider may have sent it: the count errs high, never low.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.channels.base import (
    Channel,
    FailureKind,
    OutboundMessage,
    SendFailed,
    SendResult,
)
from shared.channels.pacing import unchecked
from shared.crypto import IdentifierSettings, decode_hmac_key

CHINA = ZoneInfo("Asia/Shanghai")
# Kinds that may use only the cap minus the reserve: what can wait for tomorrow.
LOW_PRIORITY_KINDS = frozenset({"lesson", "survey"})
# The provider's cap by CHANNEL_SMS, with a margin where the provider counts differently:
# Aliyun counts a rolling 24 hours, not our calendar day, so 40 of its 50.
DEFAULT_CAPS = {"aliyun": 40, "tencent": 10}
EXPIRY_MARGIN = timedelta(hours=1)  # a key outlives its day a little: clocks differ

# Take one unit if `limit` allows: {1, count} when taken, {0, count} when refused.
_TAKE = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return {0, count} end
count = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return {1, count}
"""
# Give a unit back, never below zero (the key may have expired meanwhile).
_GIVE_BACK = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


class SmsDailyCapSettings(BaseSettings):
    """The per-number daily cap of the `sms` channel."""

    model_config = SettingsConfigDict(
        env_file=None, env_ignore_empty=True, extra="ignore", frozen=True
    )

    sms_daily_cap_per_number: int | None = Field(
        default=None,
        ge=0,
        description="Messages the `sms` channel sends one number in a day (the patient's "
        "local day, else China's), counted in Redis by every worker, below the provider's "
        "own cap so that it never refuses a dose reminder. Unset: 40 with CHANNEL_SMS=aliyun "
        "(Aliyun allows 50 in 24 hours), 10 with tencent, no cap otherwise; 0: no cap.",
    )
    sms_daily_cap_reserve: int | None = Field(
        default=None,
        ge=0,
        description="How much of that cap only dose reminders and replies may use: lessons "
        "and surveys stop at the cap minus this. Unset: a quarter of the cap, rounded up.",
    )

    def cap_for(self, vendor: str) -> int:
        """The cap in force with CHANNEL_SMS=`vendor` (0: none)."""
        if self.sms_daily_cap_per_number is not None:
            return self.sms_daily_cap_per_number
        return DEFAULT_CAPS.get(vendor, 0)

    def reserve_for(self, cap: int) -> int:
        if self.sms_daily_cap_reserve is not None:
            return min(self.sms_daily_cap_reserve, cap)
        return math.ceil(cap / 4)


def number_key(settings: IdentifierSettings | None = None) -> bytes:
    """The key of the numbers' hashes: derived from IDENTIFIER_HMAC_KEY (its own purpose,
    so a count's hash never equals a look-up hash); a fixed label when that is unset (dev)."""
    text = (settings or IdentifierSettings()).identifier_hmac_key
    base = decode_hmac_key(text) if text and text.strip() else b"mmt-unkeyed"
    return hmac.new(base, b"sms-daily-cap", hashlib.sha256).digest()


def _zone(name: str | None) -> ZoneInfo:
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # a directory ("Asia") is OSError
            pass  # a zone this host lacks: China's day rather than no count at all
    return CHINA


class DailyCap:
    """The counts, in Redis under `prefix`: one key per number and day."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        cap: int,
        reserve: int,
        key: bytes,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.cap = cap
        self.reserve = reserve
        self._prefix = prefix
        self._key = key
        self._clock = clock
        self._take: Any = redis.register_script(_TAKE)
        self._give_back: Any = redis.register_script(_GIVE_BACK)

    def limit_for(self, kind: str) -> int:
        return self.cap - self.reserve if kind in LOW_PRIORITY_KINDS else self.cap

    def counter(self, message: OutboundMessage) -> tuple[str, int]:
        """The Redis key counting `message`'s number today, and its lifetime in seconds."""
        zone = _zone(message.time_zone)
        now = self._clock().astimezone(zone)
        day: date = now.date()
        next_midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
        ttl = math.ceil((next_midnight - now + EXPIRY_MARGIN).total_seconds())
        digest = hmac.new(self._key, message.address.encode("utf-8"), hashlib.sha256)
        return f"{self._prefix}:cap:sms:{day.isoformat()}:{digest.hexdigest()[:32]}", ttl

    async def take(self, message: OutboundMessage) -> tuple[bool, int, str]:
        """(taken, the count after, the key) for one send of `message`."""
        key, ttl = self.counter(message)
        taken, count = await self._take(keys=[key], args=[self.limit_for(message.kind), ttl])
        return bool(taken), int(count), key

    async def give_back(self, key: str) -> None:
        await self._give_back(keys=[key])


def _maybe_sent(failure: SendFailed) -> bool:
    # A timeout or an answer we could not read: the provider may have sent (and counted) it.
    return failure.kind is FailureKind.RETRYABLE and failure.code in ("network", "unreadable")


class DailyCappedChannel:
    """A channel whose sends first take a unit of their number's daily count."""

    def __init__(self, channel: Channel, cap: DailyCap) -> None:
        self.inner = channel  # capabilities_of() and status_callbacks_of() look through it
        self.code = channel.code
        self.cap = cap

    async def send(self, message: OutboundMessage) -> SendResult:
        try:
            taken, _count, key = await self.cap.take(message)
        except (RedisError, OSError) as exc:  # as with pacing: no provider call
            raise unchecked(self.code, "the daily count for this number", exc) from exc
        if not taken:
            limit = self.cap.limit_for(message.kind)
            which = (
                f"{message.kind} messages stop at {limit} of {self.cap.cap} a day"
                if limit < self.cap.cap
                else f"{limit} a day"
            )
            raise SendFailed(
                FailureKind.PERMANENT,
                f"daily cap for this number reached ({which})",  # the dispatcher adds the code
                code="daily_cap",
            )
        try:
            return await self.inner.send(message)
        except SendFailed as failure:
            if not _maybe_sent(failure):
                await self._give_back(key)
            raise

    async def _give_back(self, key: str) -> None:
        # Redis gone: the unit stays taken; the count errs high, which only holds lessons back.
        with contextlib.suppress(RedisError, OSError):
            await self.cap.give_back(key)

    async def aclose(self) -> None:
        await self.inner.aclose()


def daily_capped(
    channel: Channel,
    redis: Redis,
    vendor: str,
    prefix: str,
    settings: SmsDailyCapSettings | None = None,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Channel:
    """`channel` behind the cap configured for CHANNEL_SMS=`vendor`, or as it is (no cap)."""
    settings = settings or SmsDailyCapSettings()
    cap = settings.cap_for(vendor)
    if cap <= 0:
        return channel
    counts = DailyCap(redis, prefix, cap, settings.reserve_for(cap), number_key(), clock=clock)
    return DailyCappedChannel(channel, counts)
