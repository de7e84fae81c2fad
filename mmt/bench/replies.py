"""`mmt bench api --mix replies`: patients' SMS replies at the feedback service, measured.

One feedback API process (`mmt serve feedback`, as deployed) is offered Twilio's signed
inbound SMS at R a second (open loop, `api._load`), each from one of N enrolled patients in
turn: mostly ratings, some HELP, some needs, a few urgent words. The API only verifies and
enqueues; the feedback worker (`mmt worker feedback`, its own process, answering on the
console channel) parses, stores and answers. The bench reports the API's latency, errors
and CPU, then how long after the load every reply was stored and every answer recorded,
and the worker's CPU and memory. Forms are signed before the clock starts (the twilio
package's RequestValidator, as Twilio signs them).

MMT_BENCH_FEEDBACK_TREE names another checkout whose feedback service is measured instead
(an older commit's, for a before/after on one machine): no worker is started then, since
before issue 23 the API parsed, stored and answered in the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import func, insert, select
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from mmt.bench.api import Call, _load, _serving_pids, presigned, twilio_signed
from mmt.bench.common import (
    ROOT,
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    bench_cipher,
    cpu_seconds,
    fake_twilio,
    machine,
    peak_rss_mb,
    throwaway,
)
from mmt.registry import load_service
from services.feedback.inbound_stream import GROUP, partition_streams
from services.feedback.models import InboundMessage, Sender
from services.feedback.sms_answers import SENT
from shared.access.clinics import ClinicIn, create_clinic
from shared.bus import BusKeys
from shared.crypto import IdentifierCipher
from shared.db import Database
from shared.migrate import ACCESS_MIGRATIONS, migrate
from shared.net import free_port, wait_for_port

# What patients write, in turn: ratings mostly, a question, a need, now and then urgent.
WORDS = ["4", "5", "3", "1", "5", "2", "4", "HELP", "Can I move my dose to 9am?", "5"] * 9 + [
    "I took too much, overdose"
]
SETTLE_LIMIT_S = 120.0


async def bench_replies(
    database_url: str,
    redis_url: str,
    rps: int,
    seconds: float,
    patients: int,
    warmup: float,
    *,
    profile: str | None = None,
    answer_latency_ms: float = 0.0,
) -> dict[str, Any]:
    tree = os.environ.get("MMT_BENCH_FEEDBACK_TREE")
    sent = int(rps * (seconds + warmup)) + 20
    async with contextlib.AsyncExitStack() as stack:
        place = await stack.enter_async_context(throwaway(redis_url))
        provider_url = None
        if answer_latency_ms > 0:  # answers through the fake Twilio, slowed as a provider is
            fake = stack.enter_context(fake_twilio("--latency-ms", str(answer_latency_ms)))
            provider_url = fake.url
        access = Database(database_url, "access", schema_prefix=place.prefix)
        db = Database(database_url, "feedback", schema_prefix=place.prefix)
        server: subprocess.Popen[bytes] | None = None
        worker: subprocess.Popen[bytes] | None = None
        try:
            await migrate(access, ACCESS_MIGRATIONS)
            await migrate(db, load_service("feedback").migrations)
            clinic = await create_clinic(
                access, ClinicIn(code="BENCH", name="Bench", help_phone="0877 2012345")
            )
            cipher, keys = bench_cipher()
            phones = [f"+86139{n:08d}" for n in range(patients)]
            await _enrol(db, cipher, phones, clinic.id)
            port = free_port()
            env = _environment(
                database_url, redis_url, place.prefix, port, keys, tree, provider_url
            )
            cwd = Path(tree) if tree else ROOT
            server = await _start(["serve", "feedback"], env, cwd)
            if not tree:
                # The worker is where a reply's work is done: it is what --profile wraps.
                worker = await _start(["worker", "feedback"], env, cwd, profile)
            await asyncio.to_thread(wait_for_port, port, 60)
            calls = {"reply": _replies(phones, f"http://127.0.0.1:{port}", sent)}
            worker_cpu = cpu_seconds([worker.pid]) if worker else 0.0
            figures = await _load(calls, ("reply",), "", rps, seconds, server.pid, 1, warmup)
            load_ended = time.perf_counter()
            figures.update(await _settled(db, place.redis, place.prefix, load_ended, worker))
            if worker is not None:
                figures["worker_cpu_ms_per_reply"] = round(
                    (cpu_seconds([worker.pid]) - worker_cpu) * 1000 / sent, 3
                )
            rss = {
                "api": max(
                    (mb for mb in map(peak_rss_mb, _serving_pids(server.pid)) if mb), default=None
                ),
                "worker": peak_rss_mb(worker.pid) if worker else None,
                "load": peak_rss_mb(),
            }
            facts = await machine(db, place.redis)
        finally:
            for process in (worker, server):
                if process is not None:
                    await _stop(process)
            for database in (db, access):
                await database.drop_schema()
                await database.dispose()
    return {
        "benchmark": "api",
        "mix": "replies",
        "path": f"inline ({tree})" if tree else "enqueued, worker",
        "rps": rps,
        "seconds": seconds,
        "patients": patients,
        "replies_sent": sent,
        "answers": f"fake Twilio, {provider_url}" if provider_url else "console (sent nowhere)",
        **figures,
        "peak_rss_mb": rss,
        "machine": facts,
    }


async def _start(
    command: list[str], env: dict[str, str], cwd: Path, profile: str | None = None
) -> subprocess.Popen[bytes]:
    # pyinstrument (a dev dependency) runs the module in the same process, so the pid's
    # CPU is still the worker's; it writes its report when SIGINT ends the worker.
    profiler = ["-m", "pyinstrument", "-o", profile] if profile else []
    return await asyncio.to_thread(
        subprocess.Popen, [sys.executable, *profiler, "-m", "mmt", *command], env=env, cwd=cwd
    )


async def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT, as a supervisor stops it; killed if it is not gone within 20 s."""
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.to_thread(process.wait, 20)
    except subprocess.TimeoutExpired:
        process.kill()
        await asyncio.to_thread(process.wait, 10)


async def _enrol(db: Database, cipher: IdentifierCipher, phones: list[str], clinic: int) -> None:
    """The senders' read model, as PatientEnrolled leaves it, in one statement."""
    now = datetime.now(UTC)
    rows = [
        {
            "patient_id": n + 1,
            "clinic_id": clinic,
            "phone_hash": cipher.lookup_hash(phone),
            "openid_hash": None,
            "language": "en",
            "study_arm": None,
            "state": "active",
            "opted_out": False,
            "as_of": now,
        }
        for n, phone in enumerate(phones)
    ]
    async with db.transaction() as session:
        await session.execute(insert(Sender), rows)


def _environment(
    database_url: str,
    redis_url: str,
    prefix: str,
    port: int,
    keys: dict[str, str],
    tree: str | None,
    provider_url: str | None = None,
) -> dict[str, str]:
    env = {
        **os.environ,
        **keys,
        "DATABASE_URL": database_url,
        "DATABASE_SCHEMA_PREFIX": prefix,
        "REDIS_URL": redis_url,
        "BUS_PREFIX": prefix.rstrip("_"),
        "FEEDBACK_PORT": str(port),
        # Twilio signs each inbound SMS with the account's token over the URL it was given.
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_FROM_NUMBER": TWILIO_FROM,
        "FEEDBACK_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CHANNEL_SMS": "console",  # answers recorded, not sent anywhere
        "SERVICE_HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    if provider_url:  # answers are Twilio messages: the fake's latency is the provider's
        env |= {
            "CHANNEL_SMS": "twilio",
            "TWILIO_API_BASE_URL": provider_url,
            "TWILIO_RATE": "100000/second",  # the carrier's pace is not what is measured
        }
    if tree:  # the other checkout's code first on the path
        env["PYTHONPATH"] = tree
    return env


def _replies(phones: list[str], public: str, count: int) -> Callable[[int], Call]:
    """The i-th patient's text, signed as Twilio signs it; the `count` the run sends are
    signed now, before the clock starts."""
    url = f"{public}/webhooks/twilio/sms"
    validator = RequestValidator(TWILIO_TOKEN)

    def build(i: int) -> Call:
        form = {
            "From": phones[i % len(phones)],
            "To": "+15005550006",
            "Body": WORDS[i % len(WORDS)],
            "MessageSid": f"SM{i:032x}",
        }
        return twilio_signed(validator, url, form)

    return presigned(build, count)


async def _settled(
    db: Database, redis: Redis, prefix: str, load_ended: float, worker: Any
) -> dict[str, Any]:
    """Seconds after the load until the worker had handled everything the API accepted
    (the partition streams hold nothing unread or unacknowledged) and every stored reply's
    answer was recorded; without a worker (the inline path) the store is the answer."""
    keys = BusKeys(prefix.rstrip("_"))
    waited: float | None = None
    stored = answered = 0
    while time.perf_counter() - load_ended < SETTLE_LIMIT_S:
        if worker is not None and worker.poll() is not None:
            raise RuntimeError(f"the feedback worker stopped (exit {worker.returncode})")
        # Drained first, counted after: the worker acknowledges an entry once its batch is
        # committed, so counts read after the drain include every entry (read before it,
        # they could miss the last batch, committed between the count and the check).
        drained = worker is None or await _drained(redis, keys)
        async with db.sessions() as session:
            stored = int(await session.scalar(select(func.count(InboundMessage.id))) or 0)
            answered = stored
            if worker is not None:
                query = select(func.count(InboundMessage.id)).where(InboundMessage.answer == SENT)
                answered = int(await session.scalar(query) or 0)
        if drained and answered == stored:
            waited = round(time.perf_counter() - load_ended, 3)
            break
        await asyncio.sleep(0.05)
    return {
        "replies_stored": stored,
        "replies_answered": answered,
        "stored_and_answered_s_after_load": waited,
    }


async def _drained(redis: Redis, keys: BusKeys) -> bool:
    """No partition holds an entry unread or unacknowledged by the worker's group."""
    for stream in partition_streams(keys):
        try:
            groups: Any = await redis.xinfo_groups(stream)
            info: Any = await redis.xinfo_stream(stream)
        except ResponseError:  # never written to
            continue
        group = next((g for g in groups if _text(g["name"]) == GROUP), None)
        if (
            group is None
            or int(group["pending"])
            or (_text(group["last-delivered-id"]) != _text(info["last-generated-id"]))
        ):
            return False
    return True


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
