"""`mmt bench morning`'s figures, read from the tables the run left, its plot and its table.

Times are seconds after the due time (every reminder falls due at the same moment).
Lateness: a send's is accepted-by-the-provider minus due; a receipt's is applied (the
message's `updated_at` when it turned `delivered`) minus sent; a reply's is answered minus
posted to the webhook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, select, text

from mmt.bench.common import Place, percentiles
from mmt.bench.morning_replies import Patients
from services.feedback.models import InboundMessage
from services.scheduler.dispatch import OPEN_STATES
from shared.db import Database


@dataclass
class Run:
    """What a morning run holds while it goes, and what its figures are read from."""

    place: Place
    scheduler: Database
    feedback: Database
    day: date  # the burst's local date (its messages' `local_date`)
    due: datetime
    ended: str | None = None  # a process that ended during the run ("feedback_api exited 1")
    not_released: int = -1  # occurrences still planned at the last sample (-1: not counted)

    def replies_today(self) -> ColumnElement[bool]:
        """The run's replies, not yesterday's seeded ones (`morning._seed_reply_history`)."""
        return InboundMessage.received_at > self.due - timedelta(hours=1)


# The schema names are our own generated identifiers (bench + hex), never input.
_SENDS = """
    SELECT extract(epoch FROM a.at - o.due_at), extract(epoch FROM m.updated_at - a.at),
           m.state, m.patient_id, extract(epoch FROM m.updated_at - o.due_at)
    FROM "{s}".attempts a
    JOIN "{s}".messages m ON m.id = a.message_id
    JOIN "{s}".occurrences o ON o.id = m.occurrence_id
    WHERE a.outcome IN ('sent', 'delivered') AND m.local_date = :day
"""
_STATES = 'SELECT state, count(*) FROM "{s}".messages WHERE local_date = :day GROUP BY state'


async def figures(
    run: Run, patients: Patients, samples: list[dict[str, float]], n: int
) -> dict[str, Any]:
    schema, day = run.scheduler.schema, run.day
    async with run.scheduler.engine.connect() as conn:
        rows = (await conn.execute(text(_SENDS.format(s=schema)), {"day": day})).all()
        states = {
            str(state): int(count)
            for state, count in (await conn.execute(text(_STATES.format(s=schema)), {"day": day}))
        }
    async with run.feedback.sessions() as session:
        stored_count, last_stored = (
            await session.execute(
                select(func.count(), func.max(InboundMessage.received_at)).where(
                    run.replies_today()
                )
            )
        ).one()
    sends = [float(row[0]) for row in rows]
    receipts = [float(row[1]) for row in rows if row[2] == "delivered"]
    sent_to = [int(row[3]) for row in rows]
    applied = [float(row[4]) for row in rows if row[2] == "delivered"]
    # Every message's last change: delivered, or failed on the channel the fallback chose.
    finished = [float(row[4]) for row in rows if row[2] not in (*OPEN_STATES, "sent")]
    replies = list(patients.replies.values())
    answered = [r.answered_at for r in replies if r.answered_at is not None]
    due = run.due.timestamp()
    delivered = states.get("delivered", 0)
    final = sum(count for state, count in states.items() if state not in (*OPEN_STATES, "sent"))
    burst_s = max(sends) if sends else None
    times = {
        "burst_s": _round(burst_s),
        "all_delivered_s": _round(max(applied)) if delivered == n and applied else None,
        "replies_stored_s": _round(last_stored.timestamp() - due)
        if last_stored is not None and stored_count >= sum(r.status == 200 for r in replies)
        else None,
        "replies_answered_s": _round(max(answered) - due)
        if answered and len(answered) >= patients.accepted()
        else None,
    }
    parts = [v for v in times.values() if v is not None]
    return {
        **times,
        "all_final_s": _round(max(finished)) if len(finished) == n else None,
        "settled_s": max(parts) if len(parts) == len(times) else None,
        "burst_per_second": round(n / burst_s, 1) if burst_s else None,
        "lateness_s": {
            "sends": percentiles(sends, 50, 99),
            "receipts": percentiles(receipts, 50, 99),
            "replies": percentiles(
                [r.answered_at - r.posted_at for r in replies if r.answered_at and r.posted_at],
                50,
                99,
            ),
        },
        "states": states,
        "replies_stored": int(stored_count),
        "replies_answered": len(answered),
        "samples": len(samples),
        "peak_backlog": {
            key: max((s[key] for s in samples), default=0)
            for key in ("sent_not_delivered", "receipts_backlog", "replies_not_answered")
        },
        "checks": {
            # From the provider's side (a number that got the same text twice) and ours
            # (a patient with two sends of today's reminder).
            "duplicates": max(patients.duplicates(), len(sent_to) - len(set(sent_to))),
            "lost": n - final,
        },
    }


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def plot(samples: list[dict[str, float]], path: Path, result: dict[str, Any]) -> None:
    """The backlogs over time as a small SVG: receipts above, replies below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "mmt-morning"  # the same run draws the same file
    matplotlib.rcParams["svg.fonttype"] = "none"  # text as text: a tenth of the size
    t = [s["t"] for s in samples]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 4.6), sharex=True)
    top.plot(t, [s["sent_not_delivered"] for s in samples], label="sent, not yet delivered")
    top.plot(t, [s["receipts_backlog"] for s in samples], label="receipts not yet applied")
    top.set_ylabel("messages")
    bottom.plot(t, [s["replies_not_stored"] for s in samples], label="replies not yet stored")
    bottom.plot(t, [s["replies_not_answered"] for s in samples], label="replies not yet answered")
    bottom.set_ylabel("replies")
    bottom.set_xlabel("seconds after the due time")
    for axes in (top, bottom):
        axes.legend(loc="upper right", fontsize="small")
        axes.grid(alpha=0.3)
    top.set_title(
        f"mmt bench morning: {result['reminders']:,} reminders, {result['replies']:,} replies, "
        f"load {result['load_1m_at_start']} at start",
        fontsize="medium",
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def table(result: dict[str, Any]) -> str:
    """The figures a reader looks for, one a line."""
    late = result["lateness_s"]
    checks = result["checks"]

    def pair(kind: str) -> str:
        return f"p50 {late[kind]['p50']} s, p99 {late[kind]['p99']} s"

    rows = [
        ("reminders / replies", f"{result['reminders']:,} / {result['replies']:,}"),
        ("settled", "yes" if result["settled"] else f"NO ({result['process_ended'] or 'limit'})"),
        ("burst: all sent after", _s(result["burst_s"])),
        ("burst: sends a second", str(result["burst_per_second"])),
        ("every message delivered after", _s(result["all_delivered_s"])),
        ("every message final after", _s(result["all_final_s"])),
        ("every reply stored after", _s(result["replies_stored_s"])),
        ("every reply answered after", _s(result["replies_answered_s"])),
        ("everything settled after", _s(result["settled_s"])),
        ("lateness of sends", pair("sends")),
        ("lateness of receipts", pair("receipts")),
        ("lateness of replies", pair("replies")),
        ("duplicates", str(checks["duplicates"])),
        ("lost", str(checks["lost"])),
        ("second reminders (fallback)", str(checks["second_reminders_from_fallback"])),
        ("reply errors", str(checks["reply_errors"] or 0)),
        ("callbacks failed", str(checks["callbacks_failed"])),
        *[(f"peak RSS {name}", f"{mb} MB") for name, mb in result["peak_rss_mb"].items()],
        *_cpu_rows(result.get("cpu_s")),
        (
            "load (1 min) at start / end",
            f"{result['load_1m_at_start']} / {result['machine']['load_1m_at_end']}",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def _cpu_rows(cpu: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not cpu:
        return []
    spent = {**cpu["processes"], **cpu["servers"]}
    return [
        *[(f"CPU {name}", f"{seconds} s") for name, seconds in spent.items()],
        ("CPU machine (busy share)", f"{cpu['machine_busy_s']} s ({cpu['machine_busy_share']})"),
    ]


def _s(value: float | None) -> str:
    return f"{value} s" if value is not None else "not reached"
