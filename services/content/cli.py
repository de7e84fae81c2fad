"""`mmt content ...`: the curriculum as YAML files, in and out of the content database.

The service modules are imported by the commands that use them, so that every other
`mmt` command starts without loading the curriculum code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.exc import DBAPIError

from services.content.service.problems import ContentInvalid, Problem
from shared.db import Database, using_database
from shared.errors import NotFound
from shared.settings import get_settings

content_cli = typer.Typer(
    help="The curriculum: check, import and export YAML tracks.", no_args_is_help=True
)

T = TypeVar("T")

PathsArg = Annotated[
    list[Path], typer.Argument(help="YAML files, or folders of them (one file per track).")
]


def _run(work: Callable[[Database], Awaitable[T]]) -> T:
    try:
        return asyncio.run(using_database(get_settings().database, "content", work))
    except (OSError, DBAPIError) as exc:
        typer.echo(
            f"error: the content database is unreachable or not migrated ({type(exc).__name__}); "
            "check DATABASE_URL and run `mmt migrate content`",
            err=True,
        )
        raise typer.Exit(1) from exc
    except NotFound as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _refuse(problems: Sequence[Problem], what: str) -> None:
    for problem in problems:
        typer.echo(str(problem), err=True)
    count = len(problems)
    typer.echo(f"{what}: {count} problem{'s' if count != 1 else ''}", err=True)
    raise typer.Exit(1)


@content_cli.command("check")
def check(paths: PathsArg) -> None:
    """Validate YAML tracks without a database; exit 1 listing every problem."""
    from services.content.service.importer import read_documents

    documents, problems = read_documents(paths)
    if problems:
        _refuse(problems, "not valid")
    for name, document in documents:
        lessons = len(document.lessons())
        typer.echo(f"{name}: track {document.track.code!r}, {lessons} lessons: ok")


@content_cli.command("import")
def import_(
    paths: PathsArg,
    publish: Annotated[
        bool, typer.Option("--publish", help="Publish each imported track's new version.")
    ] = False,
) -> None:
    """Import YAML tracks: every file or nothing; exit 1 listing every problem."""
    from services.content.service.importer import import_files

    try:
        outcomes = _run(lambda db: import_files(db, paths, publish=publish))
    except ContentInvalid as exc:
        _refuse(exc.problems, "nothing imported")
    for outcome in outcomes:
        typer.echo(str(outcome))


@content_cli.command("export")
def export(
    track: Annotated[str, typer.Argument(help="The track's code, e.g. core.")],
    version: Annotated[
        int | None, typer.Option(help="Version number; the newest (draft or not) by default.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output.")
    ] = None,
) -> None:
    """Write a track version as YAML that `import` reads back."""
    from services.content.service.importer import export_version

    row, text = _run(lambda db: export_version(db, track, version))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    typer.echo(f"{track}: version {row.version} ({row.state})", err=True)
