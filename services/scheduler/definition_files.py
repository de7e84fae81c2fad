"""Versioned definitions read from YAML files (risk instruments, assessment questionnaires):
the `check` and `import` commands both kinds share.

`check` needs no database; `import` loads every file or none, for every clinic or for one
(a clinic code or id). Bad files are refused whole, naming file, line and field, exit 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import typer
from sqlalchemy.exc import DBAPIError

from shared.access.tokens import TokenError, resolve_clinics
from shared.db import Database, using_database
from shared.errors import Conflict
from shared.settings import get_settings
from shared.yaml_problems import Problem, Source, read_yaml_files


class Versioned(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def version(self) -> int: ...


class Stored(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def outcome(self) -> str | None: ...


D = TypeVar("D", bound=Versioned)
Validate = Callable[[Any, Source], tuple[D | None, list[Problem]]]
Store = Callable[[Database, D, int | None, str], Awaitable[Stored]]

PathsArg = Annotated[
    list[Path], typer.Argument(help="YAML files, or folders of them (one definition a file).")
]
ClinicOpt = Annotated[
    str | None,
    typer.Option(help="Clinic code or id that owns them; every clinic's if left out."),
]


def refuse(problems: Sequence[Problem], what: str) -> typer.Exit:
    for problem in problems:
        typer.echo(str(problem), err=True)
    count = len(problems)
    typer.echo(f"{what}: {count} problem{'s' if count != 1 else ''}", err=True)
    return typer.Exit(1)


def read_definitions(
    paths: Sequence[Path], validate: Validate[D]
) -> tuple[list[tuple[str, D]], list[Problem]]:
    """Every file's definition, or every problem (a code and version twice among the files
    is one)."""
    loaded, problems = read_yaml_files(paths)
    found: list[tuple[str, D]] = []
    seen: dict[tuple[str, int], str] = {}
    for name, data, source in loaded:
        definition, wrong = validate(data, source)
        problems.extend(wrong)
        if definition is not None:
            key = (definition.code, definition.version)
            if key in seen:
                problems.append(
                    source.problem(
                        ("instrument", "code"),
                        f"{definition.code!r} version {definition.version} is also in {seen[key]}",
                    )
                )
            seen[key] = name
            found.append((name, definition))
    return found, problems


def check_files(paths: Sequence[Path], validate: Validate[D]) -> None:
    found, problems = read_definitions(paths, validate)
    if problems:
        raise refuse(problems, "not valid")
    for name, definition in found:
        typer.echo(f"{name}: {definition.code!r} version {definition.version}: ok")


def import_files(
    paths: Sequence[Path], clinic: str | None, validate: Validate[D], store: Store[D]
) -> None:
    found, problems = read_definitions(paths, validate)
    if problems:
        raise refuse(problems, "nothing imported")
    settings = get_settings().database

    async def owner() -> int | None:
        if clinic is None:
            return None
        ids = await using_database(settings, "access", lambda db: resolve_clinics(db, [clinic]))
        return ids[0]

    async def load(db: Database) -> list[str]:
        clinic_id = await owner()
        lines = []
        for name, definition in found:
            out = await store(db, definition, clinic_id, "cli")
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
