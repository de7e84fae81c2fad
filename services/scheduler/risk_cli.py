"""`mmt risk ...`: risk instrument definitions as YAML files (risk/README.md).

`check` needs no database; `import` loads every file or none, for every clinic or for one
(`--clinic CODE`). Bad definitions are refused naming file, line and field, exit code 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import DBAPIError

from services.scheduler.risk_definition import Instrument, validate_instrument
from shared.access.tokens import TokenError, resolve_clinics
from shared.db import Database, using_database
from shared.errors import Conflict
from shared.settings import get_settings
from shared.yaml_problems import Problem, read_yaml_files

risk_cli = typer.Typer(
    help="Risk instruments: check and import YAML definitions.", no_args_is_help=True
)

PathsArg = Annotated[
    list[Path], typer.Argument(help="YAML files, or folders of them (one instrument a file).")
]


def _refuse(problems: Sequence[Problem], what: str) -> typer.Exit:
    for problem in problems:
        typer.echo(str(problem), err=True)
    count = len(problems)
    typer.echo(f"{what}: {count} problem{'s' if count != 1 else ''}", err=True)
    return typer.Exit(1)


def read_instruments(paths: Sequence[Path]) -> tuple[list[tuple[str, Instrument]], list[Problem]]:
    """Every file's instrument, or every problem (a code twice among the files is one)."""
    loaded, problems = read_yaml_files(paths)
    found: list[tuple[str, Instrument]] = []
    seen: dict[tuple[str, int], str] = {}
    for name, data, source in loaded:
        instrument, wrong = validate_instrument(data, source)
        problems.extend(wrong)
        if instrument is not None:
            key = (instrument.code, instrument.version)
            if key in seen:
                problems.append(
                    source.problem(
                        ("instrument", "code"),
                        f"{instrument.code!r} version {instrument.version} is also in {seen[key]}",
                    )
                )
            seen[key] = name
            found.append((name, instrument))
    return found, problems


@risk_cli.command("check")
def check(paths: PathsArg) -> None:
    """Validate instrument files without a database; exit 1 listing every problem."""
    found, problems = read_instruments(paths)
    if problems:
        raise _refuse(problems, "not valid")
    for name, instrument in found:
        typer.echo(f"{name}: {instrument.code!r} version {instrument.version}: ok")


@risk_cli.command("import")
def import_(
    paths: PathsArg,
    clinic: Annotated[
        str | None,
        typer.Option(help="Clinic code or id that owns them; every clinic's if left out."),
    ] = None,
) -> None:
    """Load instrument files: every file or nothing; exit 1 listing every problem."""
    from services.scheduler.risk import store_instrument

    found, problems = read_instruments(paths)
    if problems:
        raise _refuse(problems, "nothing imported")
    settings = get_settings().database

    async def owner() -> int | None:
        if clinic is None:
            return None
        ids = await using_database(settings, "access", lambda db: resolve_clinics(db, [clinic]))
        return ids[0]

    async def load(db: Database) -> list[str]:
        clinic_id = await owner()
        lines = []
        for name, instrument in found:
            out = await store_instrument(db, instrument, clinic_id, "cli")
            lines.append(f"{out.code}: version {out.version} {out.outcome} from {name}")
        return lines

    try:
        lines = asyncio.run(using_database(settings, "scheduler", load))
    except (TokenError, Conflict) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except (OSError, DBAPIError) as exc:
        typer.echo(
            f"error: the database is unreachable or not migrated ({type(exc).__name__}); "
            "check DATABASE_URL and run `mmt migrate scheduler`",
            err=True,
        )
        raise typer.Exit(1) from exc
    for line in lines:
        typer.echo(line)
