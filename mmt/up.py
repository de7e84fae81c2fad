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
from collections.abc import Callable
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from redis.asyncio import Redis

from mmt.processes import Supervisor, private_redis_argv
from mmt.registry import migrate_all
from mmt.sandbox import start_fakes
from services.console.settings import ConsoleSettings
from shared.bus.connect import connect_redis
from shared.bus.keys import BusKeys
from shared.bus.outbox import mark_fresh_private_redis
from shared.crypto import generate_keys
from shared.db import Database
from shared.net import free_port, wait_for_port
from shared.settings import SERVICES, Settings, get_settings

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


# How long `mmt up` waits for a dependency it was given (REDIS_URL, DATABASE_URL) to answer
# before it stops, naming it, rather than start services that would retry it forever.
DEPENDENCY_TIMEOUT_S = 10.0


def _own_session(argv: list[str]) -> list[str]:
    """`argv` in a session of its own: a Ctrl-C at the terminal reaches `mmt up` and the
    services (which stop on it) but not the private Redis, which `mmt up` stops last, once
    the workers are done with it. Same pid (exec), so it is stopped like any child."""
    trampoline = "import os, sys; os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])"
    return [sys.executable, "-c", trampoline, *argv]


def _start_redis(supervisor: Supervisor, bus_prefix: str) -> str:
    port = free_port()
    server = shutil.which("redis-server")
    if server:
        supervisor.start("redis", _own_session(private_redis_argv(server, port)))
        kind = "redis-server (private, in memory)"
    else:
        argv = [sys.executable, "-m", "mmt.fake_redis", "--port", str(port)]
        supervisor.start("redis", _own_session(argv))
        kind = "embedded Redis-compatible server (fakeredis)"
    wait_for_port(port, 15)
    url = f"redis://127.0.0.1:{port}/0"

    async def mark() -> None:
        # It starts empty every time: the relays' replay on their first tick is expected.
        redis = connect_redis(url)
        try:
            await mark_fresh_private_redis(redis, BusKeys(bus_prefix), "mmt up")
        finally:
            await redis.aclose()

    asyncio.run(mark())
    typer.echo(f"bus: {kind} on 127.0.0.1:{port}")
    return url


def _where(url: str) -> str:
    """host:port (or path) of a URL, never its credentials."""
    parts = urlsplit(url)
    if parts.hostname:
        return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
    return parts.path or "?"


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {DEPENDENCY_TIMEOUT_S:.0f} s"
    return type(exc).__name__


def unreachable(settings: Settings, timeout_s: float = DEPENDENCY_TIMEOUT_S) -> list[str]:
    """A line for each dependency named in the environment that does not answer in time,
    saying which and what to do; empty when all answer."""
    problems: list[str] = []

    async def ping_database() -> None:
        db = Database.from_settings(settings.database, "access")
        try:
            await db.ping(timeout_s)
        finally:
            await db.dispose()

    try:
        asyncio.run(ping_database())
    except Exception as exc:
        url = settings.database.database_url
        what = (
            f"SQLite at {_where(url)}"
            if url.startswith("sqlite")
            else f"PostgreSQL at {_where(url)}"
        )
        problems.append(
            f"database unreachable: {what} ({_why(exc)}); start it or correct DATABASE_URL"
        )
    redis_url = settings.bus.redis_url
    if redis_url:

        async def ping_redis() -> None:
            # One try, not connect_redis's retries: a refusal is an answer, given at once.
            redis = Redis.from_url(redis_url, socket_connect_timeout=timeout_s)
            try:
                async with asyncio.timeout(timeout_s):
                    await redis.ping()
            finally:
                await redis.aclose()

        try:
            asyncio.run(ping_redis())
        except Exception as exc:
            problems.append(
                f"Redis unreachable: {_where(redis_url)} from REDIS_URL ({_why(exc)}); start "
                "it or correct REDIS_URL, or unset REDIS_URL for a private one"
            )
    return problems


def _wait_healthy(
    url: str,
    first_exited: Callable[[], tuple[str, int] | None],
    timeout_s: float,
    stopping: Callable[[], bool] = lambda: False,
) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if stopping() or first_exited():
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
            help="Send through local fake SMS (Twilio, or CHANNEL_SMS=aliyun|tencent's) and "
            "WeChat providers with the real adapters."
        ),
    ] = False,
    # 120 s: on a busy 2-core machine seven fresh processes importing the suite at once
    # took over 60 s to answer /health (measured 2026-12-03 at load 10).
    startup_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for each service's health.")
    ] = 120.0,
) -> None:
    """Start the three services, their workers and the console locally (SQLite, a private
    Redis if REDIS_URL is unset). Ctrl-C stops every process."""
    settings = get_settings()
    env = dict(os.environ)
    supervisor = Supervisor(env)  # what the services use: the private Redis, the fakes
    suite = Supervisor(env)  # the services' APIs and workers, stopped first
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    def first_exited() -> tuple[str, int] | None:
        return suite.first_exited() or supervisor.first_exited()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # Nothing starts on a dependency that does not answer: the services would only retry
    # it forever, logging warnings, after a "ready".
    problems = unreachable(settings)
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    if problems:
        raise typer.Exit(1)
    code = 0
    try:
        if not settings.bus.redis_url:
            env["REDIS_URL"] = _start_redis(supervisor, settings.bus.bus_prefix)
            os.environ["REDIS_URL"] = env["REDIS_URL"]
        if not env.get("CONTENT_PUBLIC_URL"):
            shown_host = (
                "127.0.0.1"
                if settings.service.service_host in ("0.0.0.0", "::")
                else (settings.service.service_host)
            )
            env["CONTENT_PUBLIC_URL"] = f"http://{shown_host}:{settings.service.port('content')}"
        if sandbox:
            start_fakes(supervisor, env, settings.service)
        for name, value in dev_secrets(
            Path(settings.service.worker_heartbeat_dir).parent, env
        ).items():
            env[name] = os.environ[name] = value
        is_sqlite = settings.database.database_url.startswith("sqlite")
        typer.echo(
            "database: "
            + (
                "SQLite (aiosqlite), one file per service"
                if is_sqlite
                else "PostgreSQL (asyncpg), one schema per service"
            )
        )
        asyncio.run(migrate_all(settings.database))
        typer.echo("migrations: applied")
        seeded = asyncio.run(_seed_curriculum())
        if seeded:
            typer.echo(f"curriculum: published the starter tracks ({', '.join(seeded)})")
        host = settings.service.service_host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        for name in SERVICES:
            suite.start(f"{name}-api", [sys.executable, "-m", "mmt", "serve", name])
            suite.start(f"{name}-worker", [sys.executable, "-m", "mmt", "worker", name])
        # The console calls the APIs where this run serves them, unless told otherwise.
        port = settings.service.port
        env.setdefault("CONSOLE_SCHEDULER_BASE_URL", f"http://{shown}:{port('scheduler')}")
        env.setdefault("CONSOLE_FEEDBACK_BASE_URL", f"http://{shown}:{port('feedback')}")
        env.setdefault("CONSOLE_CONTENT_BASE_URL", f"http://{shown}:{port('content')}")
        suite.start("console", [sys.executable, "-m", "mmt", "console"])
        bases: list[tuple[str, str]] = [
            (name, f"http://{shown}:{settings.service.port(name)}") for name in SERVICES
        ]
        bases.append(("console", f"http://{shown}:{ConsoleSettings().console_port}"))
        for name, base in bases:
            if not _wait_healthy(f"{base}/health", first_exited, startup_timeout, lambda: stopping):
                if stopping:  # Ctrl-C while starting (the children got it too): no error
                    return
                failed = first_exited()
                why = f"{failed[0]} exited with {failed[1]}" if failed else "timed out"
                typer.echo(f"error: {name} did not become healthy ({why})", err=True)
                code = 1
                return
            where = (
                "staff sign in (mmt staff create)" if name == "console" else f"docs: {base}/schema"
            )
            typer.echo(f"{name:<10} {base}   {where}")
        typer.echo("ready; press Ctrl-C to stop")
        while not stopping:
            failed = first_exited()
            if failed and not stopping:
                typer.echo(f"error: {failed[0]} exited with {failed[1]}; stopping", err=True)
                code = 1
                return
            time.sleep(0.2)
    finally:
        typer.echo("stopping...")
        # The services first, so that their workers finish with the bus and the database;
        # then what they used.
        suite.stop()
        supervisor.stop()
        typer.echo("stopped")
        if code:
            raise typer.Exit(code)
