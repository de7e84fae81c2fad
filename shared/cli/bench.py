"""`mmt bench ...`: commands that print figures (the last line is one JSON object)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from shared.settings import get_settings

bench = typer.Typer(help="Benchmarks on the configured PostgreSQL and Redis.", no_args_is_help=True)


@bench.command("dispatch")
def dispatch(
    reminders: Annotated[int, typer.Option(min=1, max=2_000_000)] = 10_000,
    batch: Annotated[bool, typer.Option(help="Batch dispatch (the default path).")] = True,
) -> None:
    """N reminders due now: release, relay, dispatch (console channel), with yardstick."""
    from services.scheduler.bench import bench_dispatch

    settings = get_settings()
    url, redis_url = settings.database.database_url, settings.bus.redis_url
    if not url.startswith("postgresql") or not redis_url:
        typer.echo("error: set DATABASE_URL=postgresql+asyncpg://... and REDIS_URL", err=True)
        raise typer.Exit(2)
    figures = asyncio.run(bench_dispatch(url, redis_url, reminders, batch=batch))
    typer.echo(json.dumps(figures, sort_keys=True))
