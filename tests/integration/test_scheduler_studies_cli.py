"""`mmt study ...` in-process against the test's schemas: check, import (once; the same
again is unchanged), list, randomise a study's clinics once, close; refusals exit 1 with
the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmt import app as mmt
from shared.db import Database
from tests.integration.schedutil import clinic

FOLDER = Path(__file__).parents[2] / "studies"


def test_check_names_file_line_and_field(tmp_path: Path) -> None:
    runner = CliRunner()
    shipped = runner.invoke(mmt, ["study", "check", str(FOLDER)])
    assert shipped.exit_code == 0, shipped.output
    assert "'yuxi-wechat' (patient, 2 arms): ok" in shipped.output
    broken = tmp_path / "broken.yaml"
    shutil.copy(FOLDER / "mmt-care.yaml", broken)
    text = broken.read_text(encoding="utf-8").replace("months: 9", "months: 6")
    broken.write_text(text.replace("lessons: true\n      surveys", "lessons: maybe\n      surveys"))
    refused = runner.invoke(mmt, ["study", "check", str(broken)])
    assert refused.exit_code == 1
    lines = refused.output.splitlines()
    line_of = text.splitlines().index("    months: 6", text.splitlines().index("  - key: month-9"))
    assert f"{broken}:{line_of + 1}: follow_up[3].months: must come after" in lines[0] + lines[1]
    assert "arms[0].receives.lessons: must be true or false, not 'maybe'" in refused.output
    assert refused.output.strip().endswith("not valid: 2 problems")


@pytest.fixture
async def clinics(scheduler_db: Database, access_db: Database) -> None:
    await clinic(access_db, "YX")
    await clinic(access_db, "KM")


@pytest.mark.usefixtures("database_env", "clinics")
def test_import_list_randomise_clinics_and_close() -> None:
    runner = CliRunner()
    made = runner.invoke(mmt, ["study", "import", str(FOLDER)])
    assert made.exit_code == 0, made.output
    assert "mmt-care: defined from" in made.output
    assert "yuxi-wechat: defined from" in made.output
    again = runner.invoke(mmt, ["study", "import", str(FOLDER / "yuxi-wechat.yaml")])
    assert "yuxi-wechat: unchanged" in again.output
    listed = runner.invoke(mmt, ["study", "list"]).output
    assert "yuxi-wechat: by patient, open, arms intervention, control" in listed

    drawn = runner.invoke(mmt, ["study", "clinics", "mmt-care", "YX", "KM"])
    assert drawn.exit_code == 0, drawn.output
    arms = dict(line.split(": ") for line in drawn.output.splitlines())
    assert sorted(arms) == ["KM", "YX"]
    assert sorted(arms.values()) == ["control", "intervention"]
    for args, reason in [
        (["clinics", "mmt-care", "YX", "KM"], "randomised already"),
        (["clinics", "yuxi-wechat", "YX", "KM"], "randomises patients"),
        (["clinics", "mmt-care", "YX", "YX"], "named twice"),
        (["clinics", "no-such", "YX", "KM"], "no study 'no-such'"),
        (["close", "no-such"], "no study 'no-such'"),
    ]:
        refused = runner.invoke(mmt, ["study", *args])
        assert refused.exit_code == 1, args
        assert reason in refused.output, refused.output
    closed = runner.invoke(mmt, ["study", "close", "yuxi-wechat"])
    assert closed.output.strip() == "yuxi-wechat: closed"
    twice = runner.invoke(mmt, ["study", "close", "yuxi-wechat"])
    assert twice.exit_code == 1
    assert "closed already" in twice.output
