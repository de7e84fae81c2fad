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
    url, redis_url = settings.database.database_url, settings.bus.redis_url
    if not url.startswith("postgresql") or not redis_url:
        typer.echo("error: set DATABASE_URL=postgresql+asyncpg://... and REDIS_URL", err=True)
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
) -> None:
    """N reminders due: released, relayed, dispatched to the fake Twilio; with yardsticks."""
    from services.scheduler.bench import bench_dispatch

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
        )
    )
