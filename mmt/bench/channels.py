"""`mmt bench channels`: each channel adapter alone, sending to its fake provider over
loopback HTTP, and the HTTP clients an adapter could be built on, on Twilio's request.

Issue #8 asks that the HTTP client of every adapter be chosen and measured (a 2-core
machine had shown httpx's AsyncClient far behind aiohttp at 64 requests in flight). This
runs, in one process and one sitting:

- **adapters**: the real Twilio SMS, WeChat (template messages, its access token cached in
  Redis), webhook, Aliyun SMS and Tencent SMS adapters (the last two signing every request,
  their fakes checking it), each sending N distinct messages to its own fake with K in
  flight: sends a second, latency p50/p99, the CPU this process and the fake spent per send,
  and what the fake accepted (every send, none twice);
- **clients**: Twilio's exact request (URL, headers, form) posted N times with K in flight
  by a bare pooled aiohttp session (what every adapter uses), by httpx's `AsyncClient`, and
  through the Twilio SDK's own async client (`messages.create_async`), which the adapter
  replaced.

Each lane first sends K messages that are not timed, so every client starts with its
connections open (and WeChat's token fetched): connection set-up is not what a burst pays.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import datetime
from typing import Any

import httpx
from redis.asyncio import Redis
from twilio.http.async_http_client import AsyncTwilioHttpClient  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from deploy.fakes.process import RunningFake, running_fake
from mmt.bench.cn_sms import CN_SMS
from mmt.bench.common import (
    BODY,
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    cpu_seconds,
    fake_twilio,
    fake_wechat,
    machine,
    openid,
    percentiles,
    phone,
    throwaway,
    twilio_channel,
    wechat_channel,
)
from shared.channels.base import Channel, FailureKind, OutboundMessage, SendFailed
from shared.channels.message_fields import message_fields
from shared.channels.support import new_session
from shared.channels.twilio_sms import encode_form
from shared.channels.webhook import WebhookChannel, WebhookConfig
from shared.db import Database

WEBHOOK_SECRET = "bench-webhook-secret-0123456789abcdef"  # noqa: S105 (the fake's)

Send = Callable[[int], Awaitable[object]]  # sends message number i


async def _lanes(send: Send, numbers: range, in_flight: int) -> tuple[list[float], Counter[str]]:
    """Send every number in `numbers`, `in_flight` at a time; latencies (ms) and errors."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    shared = iter(numbers)  # each lane takes the next number

    async def lane() -> None:
        for i in shared:
            started = time.perf_counter()
            try:
                await send(i)
            except SendFailed as failure:
                errors[failure.code or failure.kind.value] += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(lane() for _ in range(in_flight)))
    return latencies, errors


async def drive(send: Send, base: int, n: int, in_flight: int, fake: RunningFake) -> dict[str, Any]:
    """Numbers base.. : in_flight sends to warm up, then n timed, in_flight at a time."""
    await _lanes(send, range(base, base + in_flight), in_flight)
    before = fake.stats()["total_accepted"]
    cpu, fake_cpu = time.process_time(), cpu_seconds([fake.process.pid])
    started = time.perf_counter()
    latencies, errors = await _lanes(send, range(base + in_flight, base + in_flight + n), in_flight)
    elapsed = time.perf_counter() - started
    cpu, fake_cpu = time.process_time() - cpu, cpu_seconds([fake.process.pid]) - fake_cpu
    stats = fake.stats()
    return {
        "sends": n,
        "total_s": round(elapsed, 3),
        "per_second": round(len(latencies) / elapsed, 1),
        "latency_ms": percentiles(latencies, 50, 99),
        "cpu_us_per_send": round(cpu / n * 1e6, 1),
        "fake_cpu_us_per_send": round(fake_cpu / n * 1e6, 1),
        "errors": dict(errors),
        "provider_accepted": stats["total_accepted"] - before,
        # a number the fake saw twice, over everything it took so far (warm-ups included)
        "provider_duplicates": len(stats["duplicates"]),
    }


# The fields the renderer gives a dose reminder (the WeChat template's keywords read them).
FIELDS = message_fields("dose", "zh-CN", summary=BODY, name="L.W.", local=datetime(2026, 12, 3, 8))


def _message(i: int, address: str) -> OutboundMessage:
    return OutboundMessage(f"bench-{i}", address, BODY, "dose", FIELDS)


def _to_phones(channel: Channel) -> Send:
    return lambda i: channel.send(_message(i, phone(i)))


async def _adapters(
    fakes: dict[str, RunningFake], redis: Redis, prefix: str, n: int, k: int
) -> dict[str, Any]:
    twilio = twilio_channel(fakes["twilio"].url)
    wechat = wechat_channel(fakes["wechat"].url, redis, prefix)
    webhook = WebhookChannel(WebhookConfig(f"{fakes['webhook'].url}/mmt", WEBHOOK_SECRET))
    out: dict[str, Any] = {}
    try:
        out["twilio_sms"] = await drive(
            lambda i: twilio.send(_message(i, phone(i))), 0, n, k, fakes["twilio"]
        )
        out["wechat"] = await drive(
            lambda i: wechat.send(_message(i, openid(i))), 0, n, k, fakes["wechat"]
        )
        out["webhook"] = await drive(
            lambda i: webhook.send(_message(i, phone(i))), 0, n, k, fakes["webhook"]
        )
        for name, (_fake, adapter) in CN_SMS.items():  # Aliyun, Tencent: signed requests
            sms = adapter(fakes[name].url)
            try:
                out[f"{name}_sms"] = await drive(_to_phones(sms), 0, n, k, fakes[name])
            finally:
                await sms.aclose()
    finally:
        for channel in (twilio, wechat, webhook):
            await channel.aclose()
    return out


class _Refused(SendFailed):
    def __init__(self, status: int) -> None:
        super().__init__(FailureKind.PERMANENT, f"HTTP {status}", code=str(status))


async def _clients(fake: RunningFake, n: int, k: int) -> dict[str, Any]:
    """Twilio's request through each client, numbers apart from the adapters' (same fake)."""
    url = f"{fake.url}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    headers = twilio_channel(fake.url)._endpoint.headers  # exactly what the adapter sends

    def form(i: int) -> bytes:
        return encode_form([("To", phone(i)), ("From", TWILIO_FROM), ("Body", BODY)])

    out: dict[str, Any] = {}
    session = new_session(10.0, 100)  # every adapter's pooled session (shared/channels/support.py)

    async def with_aiohttp(i: int) -> None:
        async with session.post(url, data=form(i), headers=headers) as response:
            await response.read()
            if response.status != 201:
                raise _Refused(response.status)

    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    client = httpx.AsyncClient(limits=limits, timeout=10.0)

    async def with_httpx(i: int) -> None:
        response = await client.post(url, content=form(i), headers=headers)
        if response.status_code != 201:
            raise _Refused(response.status_code)

    sdk = Client(TWILIO_SID, TWILIO_TOKEN, http_client=AsyncTwilioHttpClient(timeout=10.0))
    sdk.api.base_url = fake.url

    async def with_sdk(i: int) -> None:
        await sdk.messages.create_async(to=phone(i), from_=TWILIO_FROM, body=BODY)

    try:
        out["aiohttp"] = await drive(with_aiohttp, 10_000_000, n, k, fake)
        out["httpx"] = await drive(with_httpx, 20_000_000, n, k, fake)
        with warnings.catch_warnings():
            # The SDK's own client still passes aiohttp a BasicAuth per request, which
            # aiohttp deprecates (twice: the class and the parameter).
            warnings.filterwarnings("ignore", r".*\bdeprecated\b", DeprecationWarning)
            out["twilio_sdk_async"] = await drive(with_sdk, 30_000_000, n, k, fake)
    finally:
        await session.close()
        await client.aclose()
        await sdk.http_client.close()
    return out


async def bench_channels(
    database_url: str, redis_url: str, sends: int, in_flight: int
) -> dict[str, Any]:
    """Every adapter, then every client, on the same fakes in one process."""
    async with throwaway(redis_url) as place:
        with ExitStack() as stack:
            fakes = {
                "twilio": stack.enter_context(fake_twilio()),
                "wechat": stack.enter_context(fake_wechat()),
                "webhook": stack.enter_context(running_fake("webhook", "--secret", WEBHOOK_SECRET)),
                **{name: stack.enter_context(fake()) for name, (fake, _) in CN_SMS.items()},
            }
            adapters = await _adapters(fakes, place.redis, place.bus, sends, in_flight)
            clients = await _clients(fakes["twilio"], sends, in_flight)
            db = Database(database_url, "scheduler", schema_prefix=place.prefix, pool_size=1)
            try:
                facts = await machine(db, place.redis)  # only its PostgreSQL version
            finally:
                await db.dispose()
    return {
        "benchmark": "channels",
        "sends": sends,
        "in_flight": in_flight,
        "adapters": adapters,
        "clients": clients,
        "machine": facts,
    }
