"""`mmt chaos`: a burst through the scheduler as real processes while faults land, then one
JSON line of figures (exit 1 when a guarantee did not hold). See mmt/chaos/run.py."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from shared.settings import get_settings

Share = Annotated[float, typer.Option(min=0, max=1)]


def chaos(
    reminders: Annotated[int, typer.Option(min=1, max=1_000_000)] = 50_000,
    spread: Annotated[float, typer.Option(min=0, help="Seconds over which they fall due.")] = 60,
    workers: Annotated[int, typer.Option(min=1, max=16)] = 2,
    error_rate: Annotated[float, typer.Option(min=0, max=1, help="Provider 503 share.")] = 0.2,
    rate_limit_rate: Annotated[float, typer.Option(min=0, max=1, help="429 share.")] = 0.1,
    latency_ms: Annotated[float, typer.Option(min=0)] = 30,
    kill_worker_at: Annotated[
        float | None, typer.Option(min=0, max=1, help="Burst share at which a worker is SIGKILLed")
    ] = 0.25,
    flush_redis_at: Annotated[float | None, typer.Option(min=0, max=1)] = 0.5,
    restart_redis_at: Annotated[float | None, typer.Option(min=0, max=1)] = 0.75,
    restart_postgres_at: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=1,
            help="Restart this machine's PostgreSQL cluster (pg_ctlcluster) at this share. "
            "It is shared: everyone's connections drop. Off unless given.",
        ),
    ] = None,
    wipe_after_kill: Annotated[
        float,
        typer.Option(min=0, help="Seconds a Redis wipe or restart waits after the kill."),
    ] = 0,
    timeout: Annotated[float, typer.Option(min=10, help="Seconds before giving up.")] = 1800,
) -> None:
    """A burst of due reminders through the scheduler's real worker processes (PostgreSQL,
    a private redis-server, a failing and slow fake Twilio), with a worker SIGKILLed, Redis
    wiped and restarted mid-burst; prints one JSON line of figures."""
    from mmt.chaos.plan import ChaosPlan
    from mmt.chaos.run import run_chaos

    url = get_settings().database.database_url  # normalised: postgresql+asyncpg://
    if not url.startswith("postgresql"):
        typer.echo(
            "error: chaos needs PostgreSQL: set DATABASE_URL=postgresql://... "
            "(or postgresql+asyncpg://, postgres://)",
            err=True,
        )
        raise typer.Exit(2)
    plan = ChaosPlan(
        reminders=reminders,
        spread_s=spread,
        workers=workers,
        error_rate=error_rate,
        rate_limit_rate=rate_limit_rate,
        latency_ms=latency_ms,
        kill_worker_at=kill_worker_at,
        flush_redis_at=flush_redis_at,
        restart_redis_at=restart_redis_at,
        restart_postgres_at=restart_postgres_at,
        wipe_after_kill_s=wipe_after_kill,
        timeout_s=timeout,
    )
    figures = run_chaos(url, plan)
    typer.echo(json.dumps(figures.as_dict(), sort_keys=True))
    if not figures.ok:
        raise typer.Exit(1)
