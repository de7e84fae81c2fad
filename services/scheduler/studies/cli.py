"""`mmt study ...`: study definitions as YAML files (studies/README.md), and what an admin
does to a study from the command line: list, close, randomise its clinics.

`check` needs no database; `import` defines every file's study or none. Bad files are
refused naming file, line and field; a refusal exits 1 with the reason. Patients are
enrolled and randomised through the API, where the clinic's staff see them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.exc import DBAPIError

from services.scheduler.definition_files import PathsArg, refuse
from services.scheduler.patients import Scheduler
from services.scheduler.studies import clusters, export, service
from services.scheduler.studies.definition import StudyDefinition, validate_study
from services.scheduler.studies.flow import FlowOut, flow_counts
from services.scheduler.studies.schemas import ClusterClinicIn, ClusterIn
from services.scheduler.worker import load_cipher
from shared.access.tokens import Principal, Role, TokenError, resolve_clinics
from shared.db import Database, using_database
from shared.errors import DomainError
from shared.settings import get_settings
from shared.yaml_problems import Problem, read_yaml_files

study_cli = typer.Typer(
    help="Studies: check and import definitions, list, close, randomise clinics.",
    no_args_is_help=True,
)
CLI = Principal("cli", Role.ADMIN, frozenset())
T = TypeVar("T")
StudyArg = Annotated[str, typer.Argument(help="The study's key (or id).")]


# The command line runs on the server as its operator: every clinic, like an admin.
_OPERATOR = Principal("cli", Role.ADMIN, frozenset())


def read_studies(paths: Sequence[Path]) -> tuple[list[tuple[str, StudyDefinition]], list[Problem]]:
    """Every file's study, or every problem (a key twice among the files is one)."""
    loaded, problems = read_yaml_files(paths)
    found: list[tuple[str, StudyDefinition]] = []
    seen: dict[str, str] = {}
    for name, data, source in loaded:
        study, wrong = validate_study(data, source)
        problems.extend(wrong)
        if study is None:
            continue
        if study.key in seen:
            problems.append(source.problem(("study", "key"), f"also in {seen[study.key]}"))
        seen[study.key] = name
        found.append((name, study))
    return found, problems


def _run(work: Callable[[Scheduler], Awaitable[T]], *, refused_exit: int = 1) -> T:
    """`work` on both databases; a refusal exits `refused_exit` with the reason (`mmt mi`
    takes 2, a wrong input), an unreachable database 1."""
    settings = get_settings().database

    async def both(access_db: Database) -> T:
        return await using_database(
            settings, "scheduler", lambda db: work(Scheduler(db, access_db, None))
        )

    try:
        return asyncio.run(using_database(settings, "access", both))
    except (TokenError, DomainError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(refused_exit) from None
    except (OSError, DBAPIError) as exc:
        typer.echo(
            f"error: the database is unreachable or not migrated ({type(exc).__name__}); "
            "check DATABASE_URL and run `mmt migrate`",
            err=True,
        )
        raise typer.Exit(1) from exc


@study_cli.command("check")
def check(paths: PathsArg) -> None:
    """Validate study files without a database; exit 1 listing every problem."""
    found, problems = read_studies(paths)
    if problems:
        raise refuse(problems, "not valid")
    for name, study in found:
        typer.echo(f"{name}: {study.key!r} ({study.unit}, {len(study.arms)} arms): ok")


@study_cli.command("import")
def import_(paths: PathsArg) -> None:
    """Define the studies of the files: every file or nothing; exit 1 listing every problem.
    A study never changes once defined: the same file again is `unchanged`."""
    found, problems = read_studies(paths)
    if problems:
        raise refuse(problems, "nothing imported")

    async def load(ctx: Scheduler) -> list[str]:
        lines = []
        for name, study in found:
            out = await service.store_study(ctx.db, study, "cli")
            lines.append(f"{out.key}: {out.outcome} from {name} (id {out.id})")
        return lines

    for line in _run(load):
        typer.echo(line)


@study_cli.command("list")
def list_() -> None:
    """Every study: id, key, unit, status and arms."""
    studies = _run(lambda ctx: service.list_studies(ctx.db))
    for s in studies:
        arms = ", ".join(arm.code for arm in s.arms)
        typer.echo(f"{s.id} {s.key}: by {s.unit}, {s.status}, arms {arms}")
    if not studies:
        typer.echo("no studies")


@study_cli.command("close")
def close(study: StudyArg) -> None:
    """No more enrolment or randomisation (follow-up and the arms' policies go on)."""

    async def work(ctx: Scheduler) -> str:
        out = await service.close_study(ctx.db, await service.study_id_of(ctx.db, study))
        return f"{out.key}: closed"

    typer.echo(_run(work))


@study_cli.command("clinics")
def clinics(
    study: StudyArg,
    clinic: Annotated[
        list[str],
        typer.Argument(
            help="Every clinic of the study by code or id, each as CODE or CODE=STRATUM."
        ),
    ],
) -> None:
    """Randomise the clinics of a study randomised by clinic, once, balanced (within each
    stratum given)."""
    named = [entry.partition("=") for entry in clinic]
    if len({code for code, _, _ in named}) != len(named):
        typer.echo("error: a clinic is named twice", err=True)
        raise typer.Exit(1)

    async def work(ctx: Scheduler) -> list[str]:
        ids = await resolve_clinics(ctx.access_db, [code for code, _, _ in named])
        data = ClusterIn(
            clinics=[
                ClusterClinicIn(clinic_id=cid, stratum=stratum)
                for cid, (_, _, stratum) in zip(ids, named, strict=True)
            ]
        )
        study_id = await service.study_id_of(ctx.db, study)
        made = await clusters.allocate_clinics(ctx, CLI, study_id, data)
        by_id = {cid: code for cid, (code, _, _) in zip(ids, named, strict=True)}
        return [f"{by_id[m.clinic_id]}: {m.arm}" for m in made]

    for line in _run(work):
        typer.echo(line)


@study_cli.command("export")
def export_(
    study: StudyArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the CSV here (default: stdout)")
    ] = None,
    dictionary: Annotated[
        Path | None, typer.Option(help="Also write the data dictionary (CSV) here")
    ] = None,
    pseudonymise: Annotated[
        bool, typer.Option(help="The keyed pseudonym instead of the patient id (IDENTIFIER_KEYS)")
    ] = False,
) -> None:
    """The study's analysis file: one row per participant and time point reached."""

    async def work(ctx: Scheduler) -> tuple[str, str]:
        ctx = Scheduler(ctx.db, ctx.access_db, load_cipher() if pseudonymise else None)
        study_id = await service.study_id_of(ctx.db, study)
        header, rows, variables = await export.export_rows(
            ctx, _OPERATOR, study_id, pseudonymise=pseudonymise
        )
        return export.to_csv(header, rows), export.dictionary_csv(variables)

    text, variables = _run(work)
    if dictionary is not None:
        dictionary.write_text(variables, encoding="utf-8")
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"{output}: {text.count(chr(10)) - 1} rows")


@study_cli.command("flow")
def flow_(study: StudyArg) -> None:
    """CONSORT-style counts: enrolled, consented, baseline, randomised; by arm."""

    async def work(ctx: Scheduler) -> FlowOut:
        return await flow_counts(ctx, _OPERATOR, await service.study_id_of(ctx.db, study))

    counts = _run(work)
    typer.echo(
        f"{counts.study}: enrolled {counts.enrolled}, consented {counts.consented}, "
        f"baseline {counts.baseline}, randomised {counts.randomised}"
    )
    for arm in counts.arms:
        lost = ", ".join(f"{reason} {n}" for reason, n in sorted(arm.lost.items())) or "none"
        typer.echo(f"  {arm.arm}: allocated {arm.allocated}, lost {lost}, followed {arm.followed}")


@study_cli.command("report")
def report_(
    study: StudyArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write")],
) -> None:
    """An HTML report: flow counts, the baseline by arm, outcomes compared between arms."""
    # Here, not at the top: scipy and matplotlib take seconds to import, and every `mmt`
    # process (each API and worker of `mmt up`) imports this module.
    from services.scheduler.studies import report

    async def work(ctx: Scheduler) -> str:
        study_id = await service.study_id_of(ctx.db, study)
        header, rows, _ = await export.export_rows(ctx, _OPERATOR, study_id)
        counts = await flow_counts(ctx, _OPERATOR, study_id)
        definition = await service.get_study(ctx.db, study_id)
        points = [point.key for point in definition.follow_up]
        return report.render(counts, definition.unit, rows, header, points)

    output.write_text(_run(work), encoding="utf-8")
    typer.echo(f"{output}: written")
