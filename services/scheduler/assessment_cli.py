"""`mmt assessment ...`: assessment questionnaires as YAML files (assessments/README.md).

`check` needs no database; `import` loads every file or none, for every clinic or for one
(`--clinic CODE`). Bad files are refused whole naming file, line and field, exit code 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer

from services.scheduler.assessment_definition import Questionnaire, validate_questionnaire
from services.scheduler.definition_files import PathsArg, check_files, read_definitions
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
