"""`mmt bench ...`: commands that print figures (the last line is one JSON object).

Each works in throwaway schemas and Redis keys on the configured PostgreSQL and Redis and
removes them afterwards. docs/benchmarks.md has the figures measured so far.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Annotated, Any

import typer

from shared.settings import get_settings

bench = typer.Typer(help="Benchmarks on the configured PostgreSQL and Redis.", no_args_is_help=True)


def _backends() -> tuple[str, str]:
    settings = get_settings()
    # Normalised by the settings: any accepted PostgreSQL form is postgresql+asyncpg:// here.
    url, redis_url = settings.database.database_url, settings.bus.redis_url
    if not url.startswith("postgresql") or not redis_url:
        typer.echo(
            "error: benchmarks need PostgreSQL and Redis: set DATABASE_URL=postgresql://... "
            "(or postgresql+asyncpg://, postgres://) and REDIS_URL",
            err=True,
        )
        raise typer.Exit(2)
    return url, redis_url


def _print(work: Coroutine[Any, Any, dict[str, Any]]) -> None:
    typer.echo(json.dumps(asyncio.run(work), sort_keys=True, ensure_ascii=False))


@bench.command("dispatch")
def dispatch(
    reminders: Annotated[int, typer.Option(min=1, max=2_000_000)] = 10_000,
    spread: Annotated[
        float, typer.Option(min=0, help="Seconds over which they fall due (0: all at once).")
    ] = 0.0,
    workers: Annotated[
        int, typer.Option(min=1, max=16, help="Scheduler worker processes sharing the burst.")
    ] = 1,
    batch: Annotated[bool, typer.Option(help="Batch dispatch (the default path).")] = True,
    yardsticks: Annotated[
        bool, typer.Option(help="Also run the raw pipeline and raw Redis Streams yardsticks.")
    ] = True,
    profile: Annotated[
        str | None, typer.Option(help="Write a pyinstrument profile of the suite's run here.")
    ] = None,
    channel: Annotated[
        str,
        typer.Option(
            help="sms: the Twilio adapter to the fake Twilio; wechat: the WeChat adapter "
            "(template messages) to the fake WeChat; aliyun, tencent: that SMS adapter to its "
            "fake. All but sms without the yardsticks."
        ),
    ] = "sms",
) -> None:
    """N reminders due: released, relayed, dispatched to a fake provider; with yardsticks."""
    from mmt.bench.dispatch import bench_dispatch, refusal

    reason = refusal(channel, yardsticks)
    if reason:
        typer.echo(f"error: {reason}", err=True)
        raise typer.Exit(2)
    url, redis_url = _backends()
    _print(
        bench_dispatch(
            url,
            redis_url,
            reminders,
            spread_s=spread,
            workers=workers,
            batch=batch,
            yardsticks=yardsticks,
            profile=profile,
            channel=channel,
        )
    )


@bench.command("baseline")
def baseline(
    reminders: Annotated[int, typer.Option(min=1, max=200_000)] = 2_000,
    compare: Annotated[
        bool, typer.Option(help="Also run the suite's dispatch bench on the same N, for the ratio.")
    ] = True,
    in_flight: Annotated[
        int,
        typer.Option(
            min=0,
            max=10_000,
            help="Bound the jobs' sends at once, as a careful user would (0: unbounded, "
            "as APScheduler runs coroutine jobs).",
        ),
    ] = 0,
) -> None:
    """The same burst as APScheduler 3 jobs in a SQLAlchemyJobStore (one per reminder)."""
    from mmt.bench.baseline import bench_baseline

    url, redis_url = _backends()
    _print(bench_baseline(url, redis_url, reminders, compare=compare, in_flight=in_flight))


@bench.command("planner")
def planner(patients: Annotated[int, typer.Option(min=1, max=5_000_000)] = 10_000) -> None:
    """Plan today and tomorrow for N patients: time and peak memory."""
    from mmt.bench.planner import bench_planner

    url, redis_url = _backends()
    _print(bench_planner(url, redis_url, patients))


@bench.command("api")
def api(
    rps: Annotated[int, typer.Option(min=1, max=20_000, help="Requests a second.")] = 100,
    seconds: Annotated[float, typer.Option(min=0.1, max=3600)] = 10.0,
    patients: Annotated[int, typer.Option(min=1, max=1_000_000)] = 1_000,
    profile: Annotated[
        str | None,
        typer.Option(
            help="Write a pyinstrument profile of the API process here "
            "(--mix replies: of the worker, where a reply's work is done)."
        ),
    ] = None,
    processes: Annotated[
        int, typer.Option(min=1, max=64, help="API processes (API_PROCESSES) on one port.")
    ] = 1,
    warmup: Annotated[
        float,
        typer.Option(
            min=0, max=600, help="Seconds at the full rate first, reported apart as 'warmup'."
        ),
    ] = 2.0,
    mix: Annotated[
        str,
        typer.Option(
            help="reads: a coordinator's screens; receipts: Twilio's signed status callbacks; "
            "replies: patients' signed inbound SMS at the feedback service."
        ),
    ] = "reads",
    answer_latency_ms: Annotated[
        float,
        typer.Option(
            min=0,
            max=10_000,
            help="--mix replies: the worker answers through the fake Twilio, which takes "
            "this long for each (a real provider: 100-300 ms); 0: answers sent nowhere.",
        ),
    ] = 0.0,
) -> None:
    """Coordinator reads (patient, timeline, clinic day), providers' delivery receipts, or
    patients' replies, at a steady rate: p50/p99, errors, CPU per request."""
    from mmt.bench.api import MIXES, bench_api

    if mix not in MIXES:
        typer.echo(f"error: --mix is one of {', '.join(MIXES)}, not {mix!r}", err=True)
        raise typer.Exit(2)

    if profile and processes > 1:
        typer.echo("error: --profile profiles one process: use it with --processes 1", err=True)
        raise typer.Exit(2)
    url, redis_url = _backends()
    _print(
        bench_api(
            url,
            redis_url,
            rps,
            seconds,
            patients,
            profile,
            processes,
            warmup,
            mix,
            answer_latency_ms=answer_latency_ms,
        )
    )


@bench.command("console")
def console(
    patients: Annotated[int, typer.Option(min=1, max=100_000)] = 500,
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of history.")] = 30,
    sessions: Annotated[int, typer.Option(min=1, max=500, help="Staff at once.")] = 20,
    rounds: Annotated[int, typer.Option(min=1, max=10_000, help="Pages each asks for.")] = 20,
    pages: Annotated[
        str, typer.Option(help="Comma-separated: today, patient, needs, struggling.")
    ] = "today,patient",
    think: Annotated[
        float,
        typer.Option(
            min=0, max=600, help="Seconds a person reads a page before the next (0: none)."
        ),
    ] = 2.0,
) -> None:
    """The console's day board and patient page (or the needs inbox, who is struggling)
    for one clinic under concurrent staff sessions (console, scheduler and feedback in
    this process): p50/p95 per page."""
    from mmt.bench.console import PAGES, bench_console

    chosen = tuple(p.strip() for p in pages.split(",") if p.strip())
    unknown = [p for p in chosen if p not in PAGES]
    if unknown or not chosen:
        typer.echo(f"error: --pages takes {', '.join(PAGES)}, not {pages!r}", err=True)
        raise typer.Exit(2)
    url, redis_url = _backends()
    _print(bench_console(url, redis_url, patients, days, sessions, rounds, chosen, think))


@bench.command("channels")
def channels(
    sends: Annotated[int, typer.Option(min=1, max=1_000_000, help="Timed sends per lane.")] = 5_000,
    in_flight: Annotated[int, typer.Option(min=1, max=1_000, help="Sends at once.")] = 64,
) -> None:
    """Each adapter, and each HTTP client on Twilio's request, against the fakes."""
    from mmt.bench.channels import bench_channels

    url, redis_url = _backends()
    _print(bench_channels(url, redis_url, sends, in_flight))


@bench.command("morning")
def morning(
    reminders: Annotated[int, typer.Option(min=1, max=2_000_000)] = 200_000,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Scheduler worker processes.")] = 2,
    replies: Annotated[
        float, typer.Option(min=0, max=1, help="Share of patients who reply.")
    ] = 0.10,
    reply_within: Annotated[
        float,
        typer.Option(
            min=0.1, max=600, help="Replies come up to this many seconds after a reminder."
        ),
    ] = 30.0,
    callback_delay: Annotated[
        float, typer.Option(min=0, max=60, help="Seconds from accepted to delivered callback.")
    ] = 1.0,
    fallback_wait: Annotated[
        float,
        typer.Option(
            min=1,
            help="The missing-receipt fallback's wait in seconds (60: the shortest a "
            "deployment can set, RECEIPT_TIMEOUT_MINUTES=1).",
        ),
    ] = 60.0,
    limit: Annotated[
        float, typer.Option(min=1, help="Stop waiting this many seconds after the due time.")
    ] = 600.0,
    plot: Annotated[
        str | None, typer.Option(help="Write the backlogs' plot here (SVG); none if unset.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The national morning in one run: N reminders due at once (2 workers), a delivered
    receipt for each, a share of patients replying; times until all is settled, lateness,
    backlogs each second, peak memory of every process, and the checks."""
    from pathlib import Path

    from mmt.bench.morning import MorningConfig, bench_morning
    from mmt.bench.morning_report import table

    url, redis_url = _backends()
    config = MorningConfig(
        reminders=reminders,
        workers=workers,
        reply_share=replies,
        reply_after_s=(min(2.0, reply_within / 2), reply_within),
        callback_delay_s=callback_delay,
        fallback_wait_s=fallback_wait,
        limit_s=limit,
        plot=Path(plot) if plot else None,
    )
    result = asyncio.run(bench_morning(url, redis_url, config))
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True, ensure_ascii=False))
    else:
        typer.echo(table(result))
