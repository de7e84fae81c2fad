"""`mmt calendar ...`: a clinic's special days from the command line, as the API sets them
(calendar_days.py): each change re-plans that day's dose reminders at once. A clinic is
named by its code or id; a refusal exits 1 saying why."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, TypeVar

import msgspec
import typer
from sqlalchemy.exc import DBAPIError

from services.scheduler import calendar_days
from services.scheduler.patients import Scheduler
from shared.access.tokens import Principal, Role, TokenError, resolve_clinics
from shared.db import Database, using_database
from shared.errors import DomainError
from shared.settings import get_settings

calendar = typer.Typer(
    help="A clinic's special days: closed, or open at other hours.", no_args_is_help=True
)
CLI = Principal("cli", Role.ADMIN, frozenset())
T = TypeVar("T")
ClinicArg = Annotated[str, typer.Argument(help="The clinic's code (or id).")]
DayArg = Annotated[str, typer.Argument(help="The day, YYYY-MM-DD, in the clinic's time zone.")]


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"day: {value!r} is not a date (YYYY-MM-DD)") from None


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _run(clinic: str, work: Callable[[Scheduler, int], Awaitable[T]]) -> T:
    settings = get_settings().database

    async def both(access_db: Database) -> T:
        [clinic_id] = await resolve_clinics(access_db, [clinic])
        return await using_database(
            settings, "scheduler", lambda db: work(Scheduler(db, access_db, None), clinic_id)
        )

    try:
        return asyncio.run(using_database(settings, "access", both))
    except (TokenError, DomainError) as exc:
        raise _fail(str(exc)) from None
    except (OSError, DBAPIError) as exc:
        raise _fail(
            f"the database is unreachable or not migrated ({type(exc).__name__}); "
            "check DATABASE_URL and run `mmt migrate`"
        ) from exc


def _show(day: calendar_days.ClinicDayOut) -> str:
    hours = "closed" if day.closed else f"open {day.opens_at}-{day.closes_at}"
    hours += ", no lessons" if day.skip_lessons else ""
    note = f" ({day.note})" if day.note else ""
    return f"{day.day.isoformat()}: {hours}{note}"


@calendar.command("set")
def set_(
    clinic: ClinicArg,
    day: DayArg,
    closed: Annotated[bool, typer.Option("--closed", help="The clinic is closed.")] = False,
    skip_lessons: Annotated[
        bool, typer.Option("--skip-lessons", help="Closed: no lesson that day either.")
    ] = False,
    opens: Annotated[str | None, typer.Option(help="Opens at HH:MM that day.")] = None,
    closes: Annotated[str | None, typer.Option(help="Closes at HH:MM that day.")] = None,
    note: Annotated[str | None, typer.Option(help="Why, for staff (e.g. 春节).")] = None,
) -> None:
    """Make a day closed, or open at other hours; its dose reminders are re-planned."""
    raw: dict[str, Any] = {
        "closed": closed,
        "skip_lessons": skip_lessons,
        "opens_at": opens,
        "closes_at": closes,
        "note": note,
    }
    try:
        data = msgspec.convert(raw, calendar_days.ClinicDayIn)
    except msgspec.ValidationError as exc:
        raise _fail(str(exc)) from None
    on = _day(day)
    made = _run(clinic, lambda ctx, cid: calendar_days.set_day(ctx, CLI, cid, on, data))
    typer.echo(f"{_show(made)}; {made.replanned} dose reminders planned again")


@calendar.command("clear")
def clear(clinic: ClinicArg, day: DayArg) -> None:
    """Make a day an ordinary one again (its dose reminders are re-planned)."""
    on = _day(day)
    _run(clinic, lambda ctx, cid: calendar_days.clear_day(ctx, CLI, cid, on))
    typer.echo(f"{on.isoformat()}: an ordinary day")


@calendar.command("list")
def list_(
    clinic: ClinicArg,
    since: Annotated[str | None, typer.Option(help="From this day (default: today).")] = None,
) -> None:
    """The clinic's special days from a day on."""
    first = _day(since) if since else None
    days = _run(clinic, lambda ctx, cid: calendar_days.list_days(ctx, CLI, cid, first))
    for entry in days:
        typer.echo(_show(entry))
    if not days:
        typer.echo("no special days")
