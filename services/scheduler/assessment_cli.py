"""`mmt assessment ...`: assessment questionnaires as YAML files (assessments/README.md).

`check` needs no database; `import` loads every file or none, for every clinic or for one
(`--clinic CODE`). Bad files are refused whole naming file, line and field, exit code 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer

from services.scheduler.assessment_definition import Questionnaire, validate_questionnaire
from services.scheduler.definition_files import (
    ClinicOpt,
    PathsArg,
    check_files,
    import_files,
    read_definitions,
)
from shared.yaml_problems import Problem

assessment_cli = typer.Typer(
    help="Assessment questionnaires: check and import YAML definitions.", no_args_is_help=True
)


def read_questionnaires(
    paths: Sequence[Path],
) -> tuple[list[tuple[str, Questionnaire]], list[Problem]]:
    """Every file's questionnaire, or every problem."""
    return read_definitions(paths, validate_questionnaire)


@assessment_cli.command("check")
def check(paths: PathsArg) -> None:
    """Validate questionnaire files without a database; exit 1 listing every problem."""
    check_files(paths, validate_questionnaire)


@assessment_cli.command("import")
def import_(paths: PathsArg, clinic: ClinicOpt = None) -> None:
    """Load questionnaire files: every file or nothing; exit 1 listing every problem."""
    from services.scheduler.assessments import store_questionnaire

    import_files(paths, clinic, validate_questionnaire, store_questionnaire)
