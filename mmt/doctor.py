"""`mmt doctor`: check configuration and dependencies, and say in plain words what is wrong."""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from typing import Annotated

import typer
from pydantic import ValidationError

from mmt.registry import migration_targets
from shared.bus import BusKeys
from shared.bus.connect import connect_redis, redis_version
from shared.channels.factory import check_config
from shared.channels.settings import ChannelsConfig
from shared.crypto import ConfigurationError, IdentifierCipher, IdentifierSettings
from shared.db import Database
from shared.migrate import status
from shared.settings import SERVICES, Settings, database_driver_note, get_settings


class Report:
    def __init__(self) -> None:
        self.problems = 0

    def ok(self, what: str, detail: str = "") -> None:
        typer.echo(f"  ok    {what}{': ' + detail if detail else ''}")

    def bad(self, what: str, advice: str) -> None:
        self.problems += 1
        typer.echo(f"  FAIL  {what}: {advice}")

    def note(self, what: str, detail: str) -> None:
        typer.echo(f"  note  {what}: {detail}")


async def _check_database(settings: Settings, report: Report) -> None:
    for owner, migrations in migration_targets():
        db = Database.from_settings(settings.database, owner)
        try:
            await db.ping(5)
            state = await status(db, migrations)
            if state["up_to_date"]:
                report.ok(f"database ({owner})", f"at revision {state['current']}")
            else:
                report.bad(
                    f"database ({owner})",
                    f"at revision {state['current']}, code expects {state['head']}: "
                    "run `mmt migrate`",
                )
        except Exception as exc:
            report.bad(
                f"database ({owner})",
                f"cannot connect or read ({type(exc).__name__}); check DATABASE_URL "
                "and that the server runs",
            )
        finally:
            await db.dispose()


async def _check_redis(settings: Settings, report: Report) -> None:
    if not settings.bus.redis_url:
        report.bad(
            "redis",
            "REDIS_URL is not set (`mmt up` starts a private one; services and workers need it)",
        )
        return
    redis = connect_redis(settings.bus.redis_url)
    try:
        async with asyncio.timeout(5):
            version = await redis_version(redis)
        if tuple(int(p) for p in version.split(".")[:2]) < (6, 2):
            report.bad("redis", f"version {version}; the bus needs 6.2 or newer (XAUTOCLAIM)")
        else:
            report.ok("redis", f"version {version}")
        dead = await redis.xlen(BusKeys(settings.bus.bus_prefix).dead_letters)
        if dead:
            report.note("dead letters", f"{dead} waiting: see `mmt deadletters list`")
        else:
            report.ok("dead letters", "none")
    except Exception as exc:
        report.bad("redis", f"cannot reach REDIS_URL ({type(exc).__name__})")
    finally:
        await redis.aclose()


def _probe(settings: Settings, report: Report, token: str, timeout_s: float = 20.0) -> None:
    """Send a probe through content's outbox and wait for the other services to see it."""
    port = settings.service.port
    auth = {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port('content')}/api/v1/bus-probes",
        method="POST",
        data=b'{"note": "mmt doctor"}',
        headers={"Content-Type": "application/json", **auth},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
            probe_id = json.loads(response.read())["probe_id"]
    except urllib.error.HTTPError as exc:
        report.bad(
            "bus probe", f"content API refused the probe ({exc.code}): is --token an admin token?"
        )
        return
    except (urllib.error.URLError, OSError) as exc:
        report.bad("bus probe", f"content API not reachable ({exc}); is the suite running?")
        return
    for name in SERVICES:
        deadline = time.monotonic() + timeout_s
        seen = False
        while time.monotonic() < deadline and not seen:
            try:
                url = f"http://127.0.0.1:{port(name)}/api/v1/bus-probes/{probe_id}"
                check = urllib.request.Request(url, headers=auth)
                with urllib.request.urlopen(check, timeout=5) as response:  # noqa: S310
                    seen = response.status == 200
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        if seen:
            report.ok(f"bus probe -> {name}", "received")
        else:
            report.bad(
                f"bus probe -> {name}",
                f"not received in {timeout_s:.0f}s: is `mmt worker {name}` running?",
            )


def doctor(
    probe: Annotated[
        bool, typer.Option(help="Also send a probe event through the running suite.")
    ] = False,
    token: Annotated[
        str | None, typer.Option(envvar="MMT_TOKEN", help="Admin token for --probe.")
    ] = None,
) -> None:
    """Check configuration, database, Redis and channel credentials; exit 1 on a problem."""
    if probe and not token:
        typer.echo("error: --probe needs an admin token: --token or MMT_TOKEN", err=True)
        raise typer.Exit(2)
    report = Report()
    typer.echo("configuration")
    try:
        get_settings.cache_clear()
        settings = get_settings()
        report.ok("environment", "all settings parse")
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]).upper()
            report.bad(f"setting {field}", error["msg"])
        raise typer.Exit(1) from exc
    driver = settings.database.database_url.partition("://")[0].partition("+")[2]
    mapped = database_driver_note(os.environ.get("DATABASE_URL", ""))
    report.ok("database driver", f"{driver} ({mapped})" if mapped else driver)
    typer.echo("dependencies")
    asyncio.run(_check_database(settings, report))
    asyncio.run(_check_redis(settings, report))
    typer.echo("channels")
    channels = ChannelsConfig()
    problems = check_config(channels)
    for problem in problems:
        report.bad("channels", problem)
    if not problems:
        chosen = channels.channels
        report.ok("channels", f"sms={chosen.channel_sms}, wechat={chosen.channel_wechat}")
    try:
        cipher = IdentifierCipher.from_settings(IdentifierSettings())
        report.ok("identifier keys", f"{cipher.key_count} encryption key(s)")
    except ConfigurationError as exc:
        report.note("identifier keys", f"{exc} (needed before patients are enrolled)")
    if probe and token:
        typer.echo("bus")
        _probe(settings, report, token)
    typer.echo("all good" if not report.problems else f"{report.problems} problem(s)")
    if report.problems:
        raise typer.Exit(1)
