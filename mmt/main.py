"""The `mmt` command line, the composition root's front: thin commands over the services and
the shared library (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated

import typer
from redis.asyncio import Redis

from mmt.bench.cli import bench
from mmt.chaos.cli import chaos
from mmt.console_cli import console
from mmt.doctor import doctor
from mmt.healthcheck import check_api, check_worker
from mmt.keys import keys
from mmt.registry import load_service, migrate_all
from mmt.sandbox_cli import sandbox
from mmt.staff import staff
from mmt.tokens import token
from mmt.up import up
from mmt.wechat_cli import wechat
from services.content.cli import content_cli
from services.scheduler.assessment_cli import assessment_cli
from services.scheduler.calendar_cli import calendar
from services.scheduler.mi.cli import mi_cli
from services.scheduler.risk_cli import risk_cli
from services.scheduler.studies.cli import study_cli
from shared.bus import BusKeys, list_dead_letters, replay_dead_letter
from shared.bus.connect import connect_redis
from shared.settings import SERVICES, ServiceName, Settings, get_settings

app = typer.Typer(
    help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
)
app.command(help=up.__doc__)(up)
app.command(help=doctor.__doc__)(doctor)
app.add_typer(token, name="token")
app.add_typer(staff, name="staff")
app.add_typer(keys, name="keys")
app.add_typer(content_cli, name="content")
app.add_typer(risk_cli, name="risk")
app.add_typer(assessment_cli, name="assessment")
app.add_typer(calendar, name="calendar")
app.add_typer(study_cli, name="study")
app.add_typer(mi_cli, name="mi")
app.add_typer(wechat, name="wechat")
app.add_typer(bench, name="bench")
app.add_typer(sandbox, name="sandbox")
app.command(help=chaos.__doc__)(chaos)
app.command(help=console.__doc__)(console)

ServiceArg = Annotated[str, typer.Argument(help=f"One of: {', '.join(SERVICES)}.")]


def _service(name: str) -> ServiceName:
    if name not in SERVICES:
        typer.echo(
            f"error: unknown service {name!r}; choose one of {', '.join(SERVICES)}", err=True
        )
        raise typer.Exit(2)
    return name


@app.command()
def migrate(
    owner: Annotated[
        str | None, typer.Argument(help="Only this schema owner: access or a service.")
    ] = None,
) -> None:
    """Apply database migrations: the shared access schema, then each service's."""
    if owner is not None and owner != "access":
        _service(owner)
    try:
        asyncio.run(migrate_all(get_settings().database, owner, typer.echo))
    except OSError as exc:
        typer.echo(f"error: database unreachable ({type(exc).__name__}: {exc})", err=True)
        raise typer.Exit(1) from exc


@app.command()
def serve(service: ServiceArg) -> None:
    """Run one service's HTTP API: API_PROCESSES processes sharing its port."""
    import uvicorn

    from shared.multiprocess import shared_metrics_dir

    settings = get_settings()
    name = _service(service)
    processes = settings.service.api_processes
    # Several processes: uvicorn's supervisor starts them (and replaces one that dies);
    # their Prometheus metrics go through a shared directory so that /metrics, whichever
    # process answers it, reports the whole API (shared.metrics).
    with shared_metrics_dir(settings.service, name, processes):
        uvicorn.run(
            f"services.{name}.app:create_app",
            factory=True,
            host=settings.service.service_host,
            port=settings.service.port(name),
            workers=processes,
            log_config=None,
            proxy_headers=True,
        )


@app.command()
def worker(service: ServiceArg) -> None:
    """Run one service's worker: bus consumer, outbox relay and periodic ticks."""
    from shared.worker import run_worker

    settings = get_settings()
    asyncio.run(run_worker(load_service(_service(service)), settings))


healthcheck = typer.Typer(
    help="Exit 0 when healthy (for container health checks).", no_args_is_help=True
)
app.add_typer(healthcheck, name="healthcheck")


@healthcheck.command("api")
def healthcheck_api(service: ServiceArg) -> None:
    """The service's /ready answers 200 on this host."""
    _probe_result(check_api(_service(service)))


@healthcheck.command("worker")
def healthcheck_worker(
    service: ServiceArg,
    max_age: Annotated[int, typer.Option(help="Seconds since the last heartbeat.")] = 30,
) -> None:
    """The service's worker touched its heartbeat file recently."""
    _probe_result(check_worker(_service(service), max_age))


def _probe_result(problem: str | None) -> None:
    # `mmt healthcheck ...` normally takes the fast path (mmt.healthcheck.run); these
    # commands are what `--help` shows and what a caller of `app` gets.
    if problem is not None:
        typer.echo(problem, err=True)
        raise typer.Exit(1)


deadletters = typer.Typer(help="Bus messages that could not be handled.", no_args_is_help=True)
app.add_typer(deadletters, name="deadletters")


def _redis(settings: Settings) -> Redis:
    if not settings.bus.redis_url:
        typer.echo("error: REDIS_URL is not set", err=True)
        raise typer.Exit(2)
    return connect_redis(settings.bus.redis_url)


@deadletters.command("list")
def deadletters_list(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The newest dead letters with their reasons (never their payloads)."""
    settings = get_settings()

    async def run() -> None:
        redis = _redis(settings)
        try:
            letters = await list_dead_letters(redis, BusKeys(settings.bus.bus_prefix), limit)
        finally:
            await redis.aclose()
        if as_json:
            typer.echo(json.dumps([letter.__dict__ for letter in letters]))
            return
        if not letters:
            typer.echo("no dead letters")
        for letter in letters:
            typer.echo(
                f"{letter.id}  {letter.at}  group={letter.group}  type={letter.type}  "
                f"deliveries={letter.deliveries}  reason={letter.reason}"
            )

    asyncio.run(run())


@deadletters.command("replay")
def deadletters_replay(
    ids: Annotated[list[str] | None, typer.Argument(help="Dead-letter ids (from `list`).")] = None,
    replay_all: Annotated[bool, typer.Option("--all")] = False,
) -> None:
    """Put dead letters back on their streams, e.g. after a fix is deployed."""
    settings = get_settings()
    if not ids and not replay_all:
        typer.echo("error: name dead-letter ids, or pass --all", err=True)
        raise typer.Exit(2)

    async def run() -> int:
        redis = _redis(settings)
        keys = BusKeys(settings.bus.bus_prefix)
        missing = 0
        try:
            targets = ids or [
                letter.id for letter in await list_dead_letters(redis, keys, limit=1_000_000)
            ]
            for dead_id in targets:
                try:
                    new_id = await replay_dead_letter(redis, keys, dead_id)
                    typer.echo(f"{dead_id}: replayed as {new_id}")
                except KeyError:
                    typer.echo(f"{dead_id}: no such dead letter", err=True)
                    missing += 1
        finally:
            await redis.aclose()
        return missing

    if asyncio.run(run()):
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
