"""`mmt up`: the whole suite on one machine, with embedded defaults, stopped by Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated

import typer

from mmt.processes import Supervisor, private_redis_argv
from mmt.registry import migrate_all
from mmt.sandbox import start_fakes
from shared.crypto import generate_keys
from shared.db import Database
from shared.net import free_port, wait_for_port
from shared.settings import SERVICES, get_settings

DEV_SECRETS = ("IDENTIFIER_KEYS", "IDENTIFIER_HMAC_KEY", "LESSON_LINK_SECRET")


def dev_secrets(folder: Path, env: dict[str, str]) -> dict[str, str]:
    """Secrets the environment lacks, made once and kept in `<var>/dev-secrets.env`.

    A laptop run then works out of the box and keeps its data readable across restarts;
    production sets real secrets in the environment, and this file is never read then.
    """
    missing = [name for name in DEV_SECRETS if not env.get(name)]
    if not missing:
        return {}
    path = folder / "dev-secrets.env"
    stored: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, value = line.partition("=")
            stored[name.strip()] = value.strip()
    if any(name not in stored for name in missing):
        stored = {**generate_keys(), "LESSON_LINK_SECRET": secrets.token_urlsafe(32), **stored}
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in stored.items()))
        path.chmod(0o600)
    typer.echo(
        f"secrets: development ones from {path} for {', '.join(missing)} "
        "(set real ones in production)"
    )
    return {name: stored[name] for name in missing}


STARTER_CURRICULUM = Path(__file__).resolve().parents[1] / "curriculum"


async def _seed_curriculum() -> list[str]:
    """A first run publishes the starter curriculum, so lessons flow from the start; once
    any track exists the curriculum is the editors' and is never touched here."""
    from services.content.service import store
    from services.content.service.importer import import_files

    if not STARTER_CURRICULUM.is_dir():
        return []
    db = Database.from_settings(get_settings().database, "content")
    try:
        async with db.sessions() as session:
            if await store.track_codes(session):
                return []
        outcomes = await import_files(db, [STARTER_CURRICULUM], publish=True)
    finally:
        await db.dispose()
    return [outcome.track for outcome in outcomes]


def _start_redis(supervisor: Supervisor) -> str:
    port = free_port()
    server = shutil.which("redis-server")
    if server:
        supervisor.start("redis", private_redis_argv(server, port))
        kind = "redis-server (private, in memory)"
    else:
        supervisor.start("redis", [sys.executable, "-m", "mmt.fake_redis", "--port", str(port)])
        kind = "embedded Redis-compatible server (fakeredis)"
    wait_for_port(port, 15)
    typer.echo(f"bus: {kind} on 127.0.0.1:{port}")
    return f"redis://127.0.0.1:{port}/0"


def _wait_healthy(url: str, supervisor: Supervisor, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if supervisor.first_exited():
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def up(
    sandbox: Annotated[
        bool,
        typer.Option(
            help="Send through local fake Twilio and WeChat providers with the real adapters."
        ),
    ] = False,
    startup_timeout: Annotated[float, typer.Option(help="Seconds to wait for health.")] = 60.0,
) -> None:
    """Start the three services and their workers locally (SQLite, a private Redis if
    REDIS_URL is unset). Ctrl-C stops every process."""
    settings = get_settings()
    env = dict(os.environ)
    supervisor = Supervisor(env)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    try:
        if not settings.bus.redis_url:
            env["REDIS_URL"] = _start_redis(supervisor)
            os.environ["REDIS_URL"] = env["REDIS_URL"]
        if not env.get("CONTENT_PUBLIC_URL"):
            shown_host = (
                "127.0.0.1"
                if settings.service.service_host in ("0.0.0.0", "::")
                else (settings.service.service_host)
            )
            env["CONTENT_PUBLIC_URL"] = f"http://{shown_host}:{settings.service.port('content')}"
        if sandbox:
            start_fakes(supervisor, env, settings.service, free_port, wait_for_port)
        for name, value in dev_secrets(
            Path(settings.service.worker_heartbeat_dir).parent, env
        ).items():
            env[name] = os.environ[name] = value
        is_sqlite = settings.database.database_url.startswith("sqlite")
        typer.echo(
            "database: "
            + (
                "SQLite, one file per service"
                if is_sqlite
                else "PostgreSQL, one schema per service"
            )
        )
        asyncio.run(migrate_all(settings.database))
        typer.echo("migrations: applied")
        seeded = asyncio.run(_seed_curriculum())
        if seeded:
            typer.echo(f"curriculum: published the starter tracks ({', '.join(seeded)})")
        for name in SERVICES:
            supervisor.start(f"{name}-api", [sys.executable, "-m", "mmt", "serve", name])
            supervisor.start(f"{name}-worker", [sys.executable, "-m", "mmt", "worker", name])
        host = settings.service.service_host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        for name in SERVICES:
            base = f"http://{shown}:{settings.service.port(name)}"
            if not _wait_healthy(f"{base}/health", supervisor, startup_timeout):
                failed = supervisor.first_exited()
                why = f"{failed[0]} exited with {failed[1]}" if failed else "timed out"
                typer.echo(f"error: {name} did not become healthy ({why})", err=True)
                code = 1
                return
            typer.echo(f"{name:<10} {base}   docs: {base}/schema")
        typer.echo("ready; press Ctrl-C to stop")
        while not stopping:
            failed = supervisor.first_exited()
            if failed:
                typer.echo(f"error: {failed[0]} exited with {failed[1]}; stopping", err=True)
                code = 1
                return
            time.sleep(0.2)
    finally:
        typer.echo("stopping...")
        supervisor.stop()
        typer.echo("stopped")
        if code:
            raise typer.Exit(code)
