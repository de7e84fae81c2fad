"""`mmt bench morning`: the national morning as one run on this machine.

N reminders fall due at once. Two scheduler workers dispatch them to the fake Twilio
through the real adapter, asking for status callbacks; the fake posts a signed `delivered`
callback for each a moment after accepting it, to the scheduler API (its own process),
which puts it on the receipts stream; the workers apply receipts in batches and run the
missing-receipt fallback sweep as deployed. A share of patients reply a few seconds after
their reminder arrives, signed as Twilio signs, to the feedback API (its own process, with
the feedback worker beside it): mostly ratings, a few STOP, a few urgent words.

Every second the run samples its backlogs: receipts not yet applied, messages sent and not
yet delivered, replies not yet stored and not yet answered. It ends when everything has
settled (or at `limit_s`), then reports how long each part took after the due time, the
lateness of sends, receipts and replies, peak memory of every process, and the checks:
no patient got a reminder twice, none is without a message in a final state, and the
fallback sent no second reminder. morning_report.py reads the figures and draws the plot.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import ColumnElement, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from deploy.fakes.process import RunningFake
from mmt.bench import cpu_budget, morning_report
from mmt.bench.common import (
    analyze,
    bench_cipher,
    fake_twilio,
    machine,
    peak_rss_mb,
    phone,
    seed_due,
    seed_history,
    throwaway,
)
from mmt.bench.dispatch import move_due
from mmt.bench.morning_procs import Backends, start_fleet
from mmt.bench.morning_replies import Patients, choose_repliers
from mmt.bench.morning_report import Run
from mmt.registry import load_service
from services.feedback.models import InboundMessage, Sender
from services.scheduler.dispatch import OPEN_STATES
from services.scheduler.models import Message, Occurrence, Patient
from services.scheduler.receipt_stream import GROUP
from services.scheduler.receipt_waiting import WaitingReceipts
from services.scheduler.receipt_worker import WAITING_BOUND
from shared.access.clinics import ClinicIn, create_clinic
from shared.bus import BusKeys
from shared.crypto import IdentifierCipher
from shared.db import Database
from shared.logging import configure_logging
from shared.messages import ReceiptsReceived
from shared.migrate import ACCESS_MIGRATIONS, migrate

LEAD_S = 5.0  # the reminders fall due this long after every process has started
HELP_PHONE = "0877 2012345"


@dataclass(frozen=True)
class MorningConfig:
    reminders: int = 200_000
    workers: int = 2
    reply_share: float = 0.10
    reply_after_s: tuple[float, float] = (2.0, 30.0)  # after the reminder arrives
    callback_delay_s: float = 1.0  # the fake's delivered callback, after accepting
    fallback_wait_s: float = 60.0  # the missing-receipt fallback's wait (30 min deployed)
    limit_s: float = 600.0  # give up waiting this long after the due time
    plot: Path | None = None


async def bench_morning(database_url: str, redis_url: str, config: MorningConfig) -> dict[str, Any]:
    configure_logging("bench", "WARNING")
    load_at_start = os.getloadavg()
    async with throwaway(redis_url) as place:
        dbs = [Database(database_url, name, schema_prefix=place.prefix) for name in SERVICES]
        access, scheduler, feedback = dbs
        try:
            cipher, keys = bench_cipher()
            seeded_for = datetime.now(UTC) + timedelta(days=1)
            numbers = await _seed(access, scheduler, feedback, cipher, seeded_for, config)
            repliers = choose_repliers(numbers, config.reply_share)
            await _seed_senders(scheduler, feedback, cipher, list(repliers), seeded_for)
            backends = Backends(database_url, redis_url, place.prefix, keys)
            with _fake(config) as fake:
                fleet = await start_fleet(
                    backends, fake.url, config.workers, config.fallback_wait_s
                )
                try:
                    due = datetime.now(UTC) + timedelta(seconds=LEAD_S)
                    await move_due(scheduler, due - seeded_for)
                    run = Run(place, scheduler, feedback, seeded_for.date(), due)
                    patients = Patients(
                        fake.url, fleet.feedback_url, repliers, config.reply_after_s
                    )
                    pids = {**fleet.pids(), "fake_twilio": fake.process.pid}
                    cpu_before = cpu_budget.snapshot(pids)
                    samples, settled = await _follow(run, patients, config, fleet.dead)
                    cpu = cpu_budget.spent(cpu_before, cpu_budget.snapshot(pids))
                finally:
                    peaks, fallbacks = fleet.stop()
                peaks["fake_twilio"] = peak_rss_mb(fake.process.pid)
                provider = fake.stats()
            peaks["bench"] = peak_rss_mb()
            figures = await morning_report.figures(run, patients, samples, config.reminders)
            facts = await machine(scheduler, place.redis)
        finally:
            for db in dbs:
                await db.drop_schema()
                await db.dispose()
    result: dict[str, Any] = {
        "benchmark": "morning",
        "reminders": config.reminders,
        "workers": config.workers,
        "replies": len(repliers),
        "reply_kinds": _kinds(patients),
        "settled": settled,
        "process_ended": run.ended,  # a process that ended during the run, if one did
        **figures,
        "checks": {
            **figures.pop("checks"),
            "second_reminders_from_fallback": fallbacks,
            "reply_errors": dict(patients.errors),
            "callbacks_failed": provider.get("callbacks_failed", 0)
            + provider.get("callbacks_refused", 0),
        },
        "peak_rss_mb": peaks,
        # From the start of the run to its end: what the fake provider and the bench (the
        # patients' phones) took from the same cores is not the suite's.
        "cpu_s": cpu,
        "settings": {
            "callback_delay_s": config.callback_delay_s,
            "fallback_wait_s": config.fallback_wait_s,
            "reply_after_s": list(config.reply_after_s),
        },
        "load_1m_at_start": round(load_at_start[0], 2),
        "machine": facts,
    }
    if config.plot is not None:
        morning_report.plot(samples, config.plot, result)
        result["plot"] = str(config.plot)
    return result


SERVICES = ("access", "scheduler", "feedback")


def _fake(config: MorningConfig) -> contextlib.AbstractContextManager[RunningFake]:
    """The fake Twilio, posting only `delivered` (the state a morning waits for)."""
    return fake_twilio(
        "--callback-statuses", "delivered", "--callback-delay", str(config.callback_delay_s)
    )


async def _seed(
    access: Database,
    scheduler: Database,
    feedback: Database,
    cipher: IdentifierCipher,
    seeded_for: datetime,
    config: MorningConfig,
) -> list[str]:
    """One clinic; N patients due at once (a day ahead, moved to now at the start), with
    yesterday's history; a second channel each, so the fallback would have somewhere to
    send a second reminder. Returns the patients' numbers."""
    await migrate(access, ACCESS_MIGRATIONS)
    await migrate(scheduler, load_service("scheduler").migrations)
    await migrate(feedback, load_service("feedback").migrations)
    clinic = await create_clinic(
        access,
        ClinicIn(code="BENCH", name="Bench", time_zone="Asia/Shanghai", help_phone=HELP_PHONE),
    )
    await seed_due(scheduler, config.reminders, cipher, seeded_for, clinic_id=clinic.id)
    schema = scheduler.schema  # our own generated identifier, never input
    async with scheduler.transaction() as session:
        await session.execute(
            text(f'UPDATE "{schema}".patients SET channel_order = \'["sms", "webhook"]\'')  # noqa: S608
        )
    await seed_history(scheduler)
    return [phone(i) for i in range(config.reminders)]


async def _seed_senders(
    scheduler: Database,
    feedback: Database,
    cipher: IdentifierCipher,
    numbers: list[str],
    now: datetime,
) -> None:
    """The repliers as the feedback service knows senders (its read model of enrolments)."""
    wanted = {f"B{int(number[-8:])}": number for number in numbers}
    async with scheduler.sessions() as session:
        rows = (
            await session.execute(
                select(Patient.id, Patient.clinic_id, Patient.clinic_number).where(
                    Patient.clinic_number.in_(list(wanted))
                )
            )
        ).all()
    async with feedback.transaction() as session:
        for start in range(0, len(rows), 5000):
            await session.execute(
                insert(Sender),
                [
                    {
                        "patient_id": pid,
                        "clinic_id": clinic_id,
                        "phone_hash": cipher.lookup_hash(wanted[number]),
                        "language": "zh-CN",
                        "state": "active",
                        "opted_out": False,
                        "as_of": now - timedelta(days=2),
                    }
                    for pid, clinic_id, number in rows[start : start + 5000]
                ],
            )
    await _seed_reply_history(feedback, now - timedelta(days=2))  # `now`: the seeded day


async def _seed_reply_history(feedback: Database, yesterday: datetime) -> None:
    """Yesterday's replies (a rating from each replier), then ANALYZE, as `seed_history`
    does for the scheduler's tables. On an empty, never-analysed `inbound_messages` the
    worker's look-up of a batch's provider ids kept a plan that read the whole table as
    it grew (5 ms a batch by the end of a 200,000 morning, 25 s of PostgreSQL's time): a
    first morning's cost, not every morning's."""
    schema = feedback.schema  # our own generated identifier (bench + hex), never input
    async with feedback.engine.begin() as conn:
        await conn.execute(
            text(
                f'INSERT INTO "{schema}".inbound_messages (patient_id, clinic_id, channel, '  # noqa: S608
                "provider_id, received_at, kind, rating, answer) SELECT patient_id, "
                "clinic_id, 'sms', 'SMhistory' || patient_id, :at, 'rating', 4, 'sent' "
                f'FROM "{schema}".senders'
            ),
            {"at": yesterday},
        )
    await analyze(feedback, "senders", "inbound_messages", "outbox")


async def _follow(
    run: Run, patients: Patients, config: MorningConfig, dead: Any
) -> tuple[list[dict[str, float]], bool]:
    """Sample every second until everything settles (True) or `limit_s` passes (False)."""
    stop = asyncio.Event()
    watcher = asyncio.create_task(patients.watch(stop))
    samples: list[dict[str, float]] = []
    settled = False
    try:
        await asyncio.sleep(max(0.0, (run.due - datetime.now(UTC)).total_seconds()))
        while (datetime.now(UTC) - run.due).total_seconds() < config.limit_s:
            began = time.monotonic()
            sample = await _sample(run, patients)
            samples.append(sample)
            if _settled(sample, patients):
                settled = True
                break
            if watcher.done():
                watcher.result()  # raises what it died of
            ended = dead()
            if ended:  # the run cannot settle now; what it measured so far is reported
                run.ended = ended
                break
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
    finally:
        stop.set()
        await asyncio.gather(watcher, return_exceptions=True)
    return samples, settled


def _settled(sample: dict[str, float], patients: Patients) -> bool:
    replies = patients.replies.values()
    replied = all(r.posted_at is not None for r in replies) and all(
        r.answered_at is not None or r.status != 200 for r in replies
    )
    return (
        sample["not_released"] == 0
        and sample["open"] == 0
        and sample["sent_not_delivered"] == 0
        and sample["receipts_backlog"] == 0
        and replied
        and sample["replies_not_stored"] == 0
    )


async def _sample(run: Run, patients: Patients) -> dict[str, float]:
    # Each count reads a partial index of rows still in motion (occurrences not yet
    # released, messages open, messages sent and unconfirmed), never the day's 200,000
    # messages: a count of them every second was 23 s of PostgreSQL's time in a 200,000
    # morning, a fifth of the database's share of the cores the suite was measured on.
    async with run.scheduler.sessions() as session:
        # Once all are released none comes back (the bench plans nothing more that day):
        # the count, a scan while it lasts, stops there.
        planned = run.not_released
        if planned:
            planned = run.not_released = await _count(
                session, Occurrence, Occurrence.state == "planned", Occurrence.local_date == run.day
            )
        still_open = await _count(
            session, Message, Message.state.in_(OPEN_STATES), Message.local_date == run.day
        )
        sent = await _count(
            session, Message, Message.state == "sent", Message.local_date == run.day
        )
    async with run.feedback.sessions() as session:
        stored = await _count(session, InboundMessage, run.replies_today())
    posted, accepted = patients.posted(), patients.accepted()
    return {
        "t": round((datetime.now(UTC) - run.due).total_seconds(), 2),
        "not_released": planned,
        "open": still_open,
        "sent_not_delivered": sent,
        "receipts_backlog": await _receipts_backlog(run.place.redis, BusKeys(run.place.bus)),
        "replies_posted": posted,
        # Of the replies the webhook took: one it refused is counted in the checks instead.
        "replies_not_stored": max(0, accepted - stored),
        "replies_not_answered": accepted - patients.answered(),
    }


async def _count(session: AsyncSession, entity: type[Any], *where: ColumnElement[bool]) -> int:
    return int(await session.scalar(select(func.count()).select_from(entity).where(*where)) or 0)


async def _receipts_backlog(redis: Redis, keys: BusKeys) -> int:
    """Receipts on the stream not yet applied (read or not), and those kept waiting."""
    waiting = await WaitingReceipts(redis, keys, WAITING_BOUND).count()
    try:
        groups: Any = await redis.xinfo_groups(keys.stream(ReceiptsReceived.name()))
    except ResponseError:  # no stream yet
        return waiting
    for group in groups:
        name = group["name"]
        if (name.decode() if isinstance(name, bytes) else name) == GROUP:
            return waiting + int(group.get("pending") or 0) + int(group.get("lag") or 0)
    length = await redis.xlen(keys.stream(ReceiptsReceived.name()))
    return waiting + int(length)


def _kinds(patients: Patients) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for reply in patients.replies.values():
        kinds[reply.kind] = kinds.get(reply.kind, 0) + 1
    return kinds
