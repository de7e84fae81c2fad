"""What a chaos run measures: where every planned reminder ended, what the provider saw,
whether any consumer is stuck, and whether dead letters can be seen and replayed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import func, select

from services.scheduler.models import Message, Occurrence
from shared.bus import BusKeys
from shared.bus.deadletters import list_dead_letters, replay_dead_letter
from shared.db import Database
from shared.settings import DatabaseSettings

if TYPE_CHECKING:
    from deploy.fakes.process import RunningFake
    from mmt.chaos.plan import ChaosPlan, Faults, Suite

# Where a reminder may end. `sent` waits for its receipt; the others are final.
FINAL = frozenset({"delivered", "failed", "expired", "suppressed", "opted_out", "skipped"})
SEED_SLOT = "bench"  # the slot mmt.bench.common.seed_due gives the burst's occurrences


@dataclass
class Figures:
    """One run's figures; `ok` says whether every guarantee held."""

    reminders: int
    workers: int
    seconds: float
    states: dict[str, int]
    lost: int  # planned reminders with no message in a final (or sent) state
    planned_ahead: int  # occurrences the replicas' planner ticks made (one per patient-day)
    failed_without_reason: int
    provider_accepted: int
    provider_duplicates: int  # extra copies a phone received
    provider_server_errors: int
    provider_rate_limited: int
    # The fake's status callbacks to our API: answered 2xx, answered otherwise, or failed
    # (no answer in 10 s). Twilio does not retry them; a message whose receipt never
    # arrives stays `sent`.
    receipts: dict[str, int]
    in_flight_at_faults: int
    faults: list[dict[str, Any]]
    pending_entries: int  # commands read but never acknowledged: a stuck consumer
    dead_letters: int
    dead_letter_reasons: list[str]
    dead_letter_replayed: bool
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


async def progress(settings: DatabaseSettings) -> tuple[int, int, int]:
    """(final, in flight, sent and awaiting a receipt) of the burst's reminders, now."""
    db = Database.from_settings(settings, "scheduler")
    try:
        async with db.sessions() as session:
            rows = (
                await session.execute(
                    select(Message.state, func.count())
                    .join(Occurrence, Occurrence.id == Message.occurrence_id)
                    .where(Occurrence.slot == SEED_SLOT)
                    .group_by(Message.state)
                )
            ).all()
    finally:
        await db.dispose()
    states = {state: int(n) for state, n in rows}
    final = sum(n for state, n in states.items() if state in FINAL)
    return final, states.get("sending", 0), states.get("sent", 0)


async def _states(settings: DatabaseSettings) -> tuple[dict[str, int], int, int, int]:
    db = Database.from_settings(settings, "scheduler")
    try:
        async with db.sessions() as session:
            burst = (
                select(Message.state, Message.reason)
                .join(Occurrence, Occurrence.id == Message.occurrence_id)
                .where(Occurrence.slot == SEED_SLOT)
                .subquery()
            )
            rows = (
                await session.execute(select(burst.c.state, func.count()).group_by(burst.c.state))
            ).all()
            no_reason = await session.scalar(
                select(func.count())
                .select_from(burst)
                .where(burst.c.state == "failed", burst.c.reason.is_(None))
            )
            planned = await session.scalar(select(func.count()).where(Occurrence.slot == SEED_SLOT))
            ahead = await session.scalar(select(func.count()).where(Occurrence.slot != SEED_SLOT))
    finally:
        await db.dispose()
    states = {state: int(n) for state, n in rows}
    return states, int(no_reason or 0), int(planned or 0), int(ahead or 0)


async def _pending(redis: Redis, keys: BusKeys) -> int:
    try:
        summary: Any = await redis.xpending(keys.stream("SendMessage"), "scheduler")
    except ResponseError:  # no such stream or group: nothing pending
        return 0
    return int(summary["pending"])


async def _dead_letters(redis: Redis, keys: BusKeys) -> tuple[int, list[str], bool]:
    letters = await list_dead_letters(redis, keys, limit=20)
    count = int(await redis.xlen(keys.dead_letters))
    reasons = sorted({letter.reason[:120] for letter in letters})
    if not letters:
        return count, reasons, False
    # Replayable: back on its stream it is read again and, still garbled, comes back here.
    await replay_dead_letter(redis, keys, letters[0].id)
    for _ in range(50):
        if int(await redis.xlen(keys.dead_letters)) == count:
            return count, reasons, True
        await asyncio.sleep(0.2)
    return count, reasons, False


async def measure(
    settings: DatabaseSettings,
    redis_url: str,
    plan: ChaosPlan,
    faults: Faults,
    fake: RunningFake,
    started: float,
    suite: Suite,
) -> Figures:
    seconds = round(time.monotonic() - started, 1)
    keys = BusKeys(suite.env["BUS_PREFIX"])
    redis = Redis.from_url(redis_url)
    try:
        # Entries still pending a few seconds after the last reminder settled are stuck.
        await asyncio.sleep(3)
        pending = await _pending(redis, keys)
        dead, reasons, replayed = await _dead_letters(redis, keys)
    finally:
        await redis.aclose()
    states, no_reason, planned, ahead = await _states(settings)
    stats = fake.stats()
    settled = sum(n for state, n in states.items() if state in FINAL or state == "sent")
    figures = Figures(
        reminders=plan.reminders,
        workers=plan.workers,
        seconds=seconds,
        states=states,
        lost=planned - settled,
        planned_ahead=ahead,
        failed_without_reason=no_reason,
        provider_accepted=int(stats.get("total_accepted", 0)),
        provider_duplicates=sum(n - 1 for n in stats.get("duplicates", {}).values()),
        provider_server_errors=int(stats.get("server_errors", 0)),
        provider_rate_limited=int(stats.get("rate_limited", 0)),
        receipts={
            outcome: int(stats.get(f"callbacks_{outcome}", 0))
            for outcome in ("ok", "refused", "failed")
        },
        in_flight_at_faults=faults.in_flight,
        faults=faults.events,
        pending_entries=pending,
        dead_letters=dead,
        dead_letter_reasons=reasons,
        dead_letter_replayed=replayed,
    )
    figures.problems = _problems(figures, plan)
    return figures


def _problems(f: Figures, plan: ChaosPlan) -> list[str]:
    problems = []
    if f.lost:
        problems.append(f"{f.lost} reminders did not reach a final state")
    if f.failed_without_reason:
        problems.append(f"{f.failed_without_reason} failed without a reason")
    if f.provider_duplicates > f.in_flight_at_faults:
        problems.append(
            f"{f.provider_duplicates} duplicates at the provider, more than the "
            f"{f.in_flight_at_faults} in flight at the faults"
        )
    if f.pending_entries:
        problems.append(f"{f.pending_entries} commands pending: a consumer is stuck")
    if plan.poison and not (f.dead_letters and f.dead_letter_replayed):
        problems.append("the garbled command is not visible and replayable as a dead letter")
    return problems
