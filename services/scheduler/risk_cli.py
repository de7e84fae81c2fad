"""`mmt risk ...`: risk instrument definitions as YAML files (risk/README.md).

`check` needs no database; `import` loads every file or none, for every clinic or for one
(`--clinic CODE`). Bad definitions are refused naming file, line and field, exit code 1
(services.scheduler.definition_files, shared with `mmt assessment`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer

from services.scheduler.definition_files import (
    ClinicOpt,
    PathsArg,
    check_files,
    import_files,
    read_definitions,
)
from services.scheduler.risk_definition import Instrument, validate_instrument
from shared.yaml_problems import Problem

risk_cli = typer.Typer(
    help="Risk instruments: check and import YAML definitions.", no_args_is_help=True
)


def read_instruments(paths: Sequence[Path]) -> tuple[list[tuple[str, Instrument]], list[Problem]]:
    """Every file's instrument, or every problem (a code twice among the files is one)."""
    return read_definitions(paths, validate_instrument)


@risk_cli.command("check")
def check(paths: PathsArg) -> None:
    """Validate instrument files without a database; exit 1 listing every problem."""
    check_files(paths, validate_instrument)


@risk_cli.command("import")
def import_(paths: PathsArg, clinic: ClinicOpt = None) -> None:
    """Load instrument files: every file or nothing; exit 1 listing every problem."""
    from services.scheduler.risk import store_instrument

    import_files(paths, clinic, validate_instrument, store_instrument)
