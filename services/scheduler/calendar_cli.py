"""`mmt calendar ...`: a clinic's special days and (`mmt calendar hours ...`) its weekly
hours and take-home doses from the command line, as the API sets them (calendar_days.py,
calendar_week.py): each change re-plans the affected reminders at once. A clinic is named
by its code or id; hours that make no sense exit 2, any other refusal 1, saying why."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, TypeVar

import msgspec
import typer
from sqlalchemy.exc import DBAPIError

from services.scheduler import calendar_days, calendar_week
from services.scheduler.clinic_calendar import WEEKDAYS
from services.scheduler.patients import Scheduler
from shared.access.tokens import Principal, Role, TokenError, resolve_clinics
from shared.db import Database, using_database
from shared.errors import DomainError
from shared.settings import get_settings

calendar = typer.Typer(
    help="A clinic's special days: closed, or open at other hours.", no_args_is_help=True
)
hours = typer.Typer(
    help="A clinic's weekly opening hours and take-home doses.", no_args_is_help=True
)
calendar.add_typer(hours, name="hours")
CLI = Principal("cli", Role.ADMIN, frozenset())
T = TypeVar("T")
ClinicArg = Annotated[str, typer.Argument(help="The clinic's code (or id).")]
DayArg = Annotated[str, typer.Argument(help="The day, YYYY-MM-DD, in the clinic's time zone.")]


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"day: {value!r} is not a date (YYYY-MM-DD)") from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _run(clinic: str, work: Callable[[Scheduler, int], Awaitable[T]]) -> T:
    settings = get_settings().database

    async def both(access_db: Database) -> T:
        [clinic_id] = await resolve_clinics(access_db, [clinic])
        return await using_database(
            settings, "scheduler", lambda db: work(Scheduler(db, access_db, None), clinic_id)
        )

    try:
        return asyncio.run(using_database(settings, "access", both))
    except calendar_week.InvalidHours as exc:
        raise _fail(str(exc), 2) from None
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
    hours += ", no surveys" if day.skip_surveys else ""
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
    skip_surveys: Annotated[
        bool, typer.Option("--skip-surveys", help="Closed: survey questions wait a day.")
    ] = False,
    opens: Annotated[str | None, typer.Option(help="Opens at HH:MM that day.")] = None,
    closes: Annotated[str | None, typer.Option(help="Closes at HH:MM that day.")] = None,
    note: Annotated[str | None, typer.Option(help="Why, for staff (e.g. 春节).")] = None,
) -> None:
    """Make a day closed, or open at other hours; its dose reminders are re-planned."""
    raw: dict[str, Any] = {
        "closed": closed,
        "skip_lessons": skip_lessons,
        "skip_surveys": skip_surveys,
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


def _days(spec: str) -> list[str]:
    """ "mon", "mon-fri" or "sat,sun" as weekday names."""
    found: list[str] = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        for name in (first, last or first):
            if name not in WEEKDAYS:
                raise _fail(f"{name!r}: unknown weekday (use {', '.join(WEEKDAYS)})", 2)
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        if end < start:
            raise _fail(f"{part!r}: a range runs forwards, mon to sun", 2)
        found += WEEKDAYS[start : end + 1]
    return found


def _week_args(args: list[str]) -> calendar_week.Week:
    week: calendar_week.Week = {}
    for arg in args:
        spec, sep, value = arg.partition("=")
        if not sep:
            raise _fail(f"{arg!r}: give DAYS=HOURS, e.g. mon-fri=07:00-11:30,14:00-17:00", 2)
        intervals = [] if value == "closed" else value.split(",")
        week.update(dict.fromkeys(_days(spec), intervals))
    return week


def _show_week(made: calendar_week.CalendarOut) -> list[str]:
    lines = (
        [f"{name}: {', '.join(made.week[name]) or 'closed'}" for name in WEEKDAYS]
        if made.week
        else ["no weekly hours (dose reminders keep their times)"]
    )
    return [*lines, f"take-home doses on closed days: {'yes' if made.take_home else 'no'}"]


TakeHome = Annotated[
    bool | None,
    typer.Option(
        "--take-home/--no-take-home",
        help="Closed days are covered by take-home doses: patients get a notice the day "
        "before (default: as it is).",
    ),
]


@hours.command("show")
def hours_show(clinic: ClinicArg) -> None:
    """The clinic's weekly hours and whether it gives take-home doses."""
    made = _run(clinic, lambda ctx, cid: calendar_week.get_calendar(ctx, CLI, cid))
    typer.echo("\n".join(_show_week(made)))


def _set_week(clinic: str, week: calendar_week.Week | None, take_home: bool | None) -> None:
    async def work(ctx: Scheduler, clinic_id: int) -> calendar_week.CalendarOut:
        now = await calendar_week.get_calendar(ctx, CLI, clinic_id)
        merged = None if week is None else {**(now.week or {}), **week}
        data = calendar_week.CalendarIn(
            week=merged, take_home=now.take_home if take_home is None else take_home
        )
        return await calendar_week.set_calendar(ctx, CLI, clinic_id, data)

    made = _run(clinic, work)
    typer.echo("\n".join(_show_week(made)))
    typer.echo(f"{made.replanned} reminders planned again")


@hours.command("set")
def hours_set(
    clinic: ClinicArg,
    days: Annotated[
        list[str] | None,
        typer.Argument(
            help="DAYS=HOURS: mon-fri=07:00-11:30,14:00-17:00 sat=08:00-12:00 sun=closed. "
            "Days not named keep their hours; a clinic without weekly hours names all seven."
        ),
    ] = None,
    take_home: TakeHome = None,
) -> None:
    """Set weekly hours (and take-home doses); unreleased reminders are re-planned."""
    _set_week(clinic, _week_args(days or []), take_home)


@hours.command("clear")
def hours_clear(clinic: ClinicArg, take_home: TakeHome = None) -> None:
    """No weekly hours: dose reminders keep their times (special days still apply)."""
    _set_week(clinic, None, take_home)
