"""Risk instrument definitions: the shipped one is valid, bad ones are refused naming file,
line and field, and answers are scored into bands."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]
from typer.testing import CliRunner

from mmt import app as mmt
from services.scheduler.risk_cli import read_instruments
from services.scheduler.risk_definition import Instrument, validate_instrument
from shared.errors import InvalidInput

RISK = Path(__file__).parents[2] / "risk"

GOOD = """\
instrument:
  code: short-check
  version: 2
  titles: {zh-CN: "简短评估", en: "Short check"}
items:
  - key: missed
    texts: {zh-CN: "漏服", en: "Missed days"}
    answers:
      - {value: none, points: 0, texts: {zh-CN: "无", en: "None"}}
      - {value: many, points: 4, texts: {zh-CN: "多", en: "Many"}}
  - key: support
    texts: {zh-CN: "支持", en: "Support"}
    answers:
      - {value: 0, points: 0, texts: {zh-CN: "有", en: "Yes"}}
      - {value: 1, points: 2, texts: {zh-CN: "没有", en: "No"}}
bands:
  - {band: low, min: 0}
  - {band: medium, min: 2}
  - {band: high, min: 4}
"""


def _instrument(text: str = GOOD) -> Instrument:
    instrument, problems = validate_instrument(yaml.safe_load(text))
    assert problems == []
    assert instrument is not None
    return instrument


def test_the_shipped_instrument_is_valid_in_both_languages() -> None:
    found, problems = read_instruments([RISK])
    assert problems == []
    [(name, instrument)] = found
    assert name.endswith("retention-risk.yaml")
    assert instrument.code == "retention-risk"
    assert set(instrument.titles) == {"zh-CN", "en"}
    assert all(set(item.texts) == {"zh-CN", "en"} for item in instrument.items)
    assert [rule.band for rule in instrument.bands] == ["low", "medium", "high"]
    assert instrument.max_total() >= instrument.bands[-1].min


@pytest.mark.parametrize(
    ("answers", "total", "band"),
    [
        ({"missed": "none", "support": "0"}, 0, "low"),
        ({"missed": "none", "support": "1"}, 2, "medium"),  # a threshold is in its band
        ({"missed": "many", "support": "0"}, 4, "high"),
        ({"missed": "many", "support": "1"}, 6, "high"),
    ],
)
def test_answers_are_scored_into_bands(answers: dict[str, str], total: int, band: str) -> None:
    assert _instrument().score(answers) == (total, band)


def test_wrong_answers_are_refused_naming_each_item() -> None:
    with pytest.raises(InvalidInput) as refused:
        _instrument().score({"missed": "lots", "other": "x"})
    message = str(refused.value)
    assert "answers.other: not an item" in message
    assert "answers.missed: 'lots' is not one of none, many" in message
    assert "answers.support: missing" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("version: 2", "version: 0"), "bad.yaml:3: instrument.version: must be from 1 to"),
        (('en: "Short check"', 'fr: "x"'), "bad.yaml:4: instrument.titles.fr: unknown language"),
        (("- key: support", "- key: missed"), "bad.yaml:11: items[1].key: item 'missed' appears"),
        (("value: many", "value: none"), "bad.yaml:10: items[0].answers[1].value: answer 'none'"),
        (("points: 4", "points: -1"), "bad.yaml:10: items[0].answers[1].points: must be from 0"),
        (("points: 4", "points: four"), "bad.yaml:10: items[0].answers[1].points: must be a whole"),
        (("band: medium", "band: severe"), "bad.yaml:18: bands[1].band: 'severe' is not one of"),
        (("min: 4", "min: 9"), "bad.yaml:19: bands[2].min: 9 can never be reached (the highest"),
        (("min: 2", "min: 5"), "bad.yaml:19: bands[2].min: must be above the band before it"),
        (
            ("{band: low, min: 0}", "{band: low, min: 1}"),
            "bad.yaml:17: bands[0].min: the first band",
        ),
        (
            ("  - {band: low, min: 0}\n  - {band: medium, min: 2}\n", ""),
            "bad.yaml:16: bands: must be a list of 2 to 3",
        ),
        (
            ('    texts: {zh-CN: "支持", en: "Support"}\n', ""),
            "bad.yaml:11: items[1].texts: missing",
        ),
    ],
)
def test_bad_definitions_are_refused_naming_file_line_and_field(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    assert change[0] in GOOD
    (tmp_path / "bad.yaml").write_text(GOOD.replace(change[0], change[1], 1), encoding="utf-8")
    found, problems = read_instruments([tmp_path / "bad.yaml"])
    assert found == []
    assert any(str(problem).startswith(f"{tmp_path}/{expected}") for problem in problems), [
        str(problem) for problem in problems
    ]


def test_mmt_risk_check_exits_1_naming_file_line_and_field(tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "good.yaml").write_text(GOOD, encoding="utf-8")
    assert runner.invoke(mmt, ["risk", "check", str(tmp_path)]).exit_code == 0
    (tmp_path / "copy.yaml").write_text(GOOD.replace("points: 2", "points: 2.5"), encoding="utf-8")
    (tmp_path / "same.yaml").write_text(GOOD, encoding="utf-8")
    refused = runner.invoke(mmt, ["risk", "check", str(tmp_path)])
    assert refused.exit_code == 1
    assert f"{tmp_path}/copy.yaml:15: items[1].answers[1].points: must be a whole number" in (
        refused.output
    )
    assert "'short-check' version 2 is also in" in refused.output
    assert "not valid: 2 problems" in refused.output


def test_an_unreadable_file_is_refused_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("instrument: [\n", encoding="utf-8")
    _found, problems = read_instruments([tmp_path])
    assert [problem.file for problem in problems] == [f"{tmp_path}/broken.yaml"]
    assert problems[0].line is not None
    assert "invalid YAML" in problems[0].message
