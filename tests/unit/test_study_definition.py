"""Study definitions: the shipped ones are valid, and each kind of mistake is named by its
field (file and line come from shared.yaml_problems, as for every YAML definition)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from services.scheduler.studies.definition import validate_study

FOLDER = Path(__file__).parents[2] / "studies"
YUXI = yaml.safe_load((FOLDER / "yuxi-wechat.yaml").read_text(encoding="utf-8"))


def test_the_shipped_studies_are_valid() -> None:
    yuxi, problems = validate_study(YUXI)
    assert problems == []
    assert yuxi is not None
    assert (yuxi.unit, yuxi.block_sizes, [f.key for f in yuxi.strata]) == (
        "patient",
        [2, 4, 6],
        ["clinic", "sex", "age_band"],
    )
    control = yuxi.arms[1]
    # Routine care receives nothing it does not list.
    assert (control.dose_reminders, control.lessons, control.surveys) == (False, False, False)
    assert yuxi.arms[0].tracks == ["core"]
    care, problems = validate_study(yaml.safe_load((FOLDER / "mmt-care.yaml").read_text("utf-8")))
    assert problems == []
    assert care is not None
    assert [p.months for p in care.follow_up] == [0, 3, 6, 9]


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    target: Any = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "field", "message"),
    [
        (("study", "block_sizes"), [2, 3], "study.block_sizes[1]", "not a multiple of 2"),
        (("study", "unit"), "ward", "study.unit", "is not one of patient, clinic"),
        (("arms", 1, "code"), "intervention", "arms[1].code", "appears twice"),
        (("arms", 0, "ratio"), 0, "arms[0].ratio", "from 1 to 10"),
        (("arms", 0, "receives", "sms"), True, "arms[0].receives.sms", "unknown field"),
        (("strata", 0, "values"), ["a", "b"], "strata[0].values", "clinic takes the patient"),
        (("strata", 1, "values"), ["male", "male"], "strata[1].values", "appears twice"),
        (("follow_up", 1, "months"), 0, "follow_up[1].months", "after the time point before"),
        (("arms", 0, "titles"), {"en": "Online"}, "arms[0].titles.zh-CN", "missing"),
    ],
)
def test_mistakes_are_named_by_field(
    path: tuple[Any, ...], value: Any, field: str, message: str
) -> None:
    study, problems = validate_study(_set(YUXI, path, value))
    assert study is None
    assert any(p.field == field and message in p.message for p in problems), problems
