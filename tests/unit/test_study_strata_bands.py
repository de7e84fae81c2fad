"""Age bands as a stratum and an arm's switch for assessment reminders, in a study file:
bands in rising order without gaps (the last one maybe open), an age finds its band, and
every mistake is named by its field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from services.scheduler.studies.definition import band_of, validate_study

FOLDER = Path(__file__).parents[2] / "studies"
YUXI = yaml.safe_load((FOLDER / "yuxi-wechat.yaml").read_text(encoding="utf-8"))
BANDS = ["18-29", "30-39", "40-49", "50+"]


def _with(strata: list[dict[str, Any]] | None = None, **arm: Any) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(YUXI)
    if strata is not None:
        data["strata"] = strata
    data["arms"][1].update(arm)
    return data


def test_bands_are_a_factor_whose_values_are_the_bands() -> None:
    study, problems = validate_study(
        _with([{"key": "sex", "values": ["m", "f"]}, {"key": "age_band", "bands": BANDS}])
    )
    assert problems == []
    assert study is not None
    band = study.strata[1]
    assert (band.key, band.values, band.age_bands) == ("age_band", BANDS, True)
    assert study.strata[0].age_bands is False
    shipped, _ = validate_study(YUXI)
    assert shipped is not None
    assert shipped.strata[2].values == ["18-39", "40-49", "50+"]


@pytest.mark.parametrize(
    ("age", "band"), [(18, "18-29"), (29, "18-29"), (30, "30-39"), (49, "40-49"), (97, "50+")]
)
def test_an_age_finds_its_band(age: int, band: str) -> None:
    assert band_of(BANDS, age) == band


def test_an_age_below_every_band_finds_none() -> None:
    assert band_of(BANDS, 17) is None
    assert band_of(["18-29", "30-39"], 40) is None


@pytest.mark.parametrize(
    ("bands", "field", "message"),
    [
        (["18-29", "31-39"], "strata[0].bands[1]", "must start at 30"),
        (["18-29", "25-39"], "strata[0].bands[1]", "must start at 30"),
        (["50+", "18-29"], "strata[0].bands[0]", "only the last band may be open"),
        (["30-18", "19-40"], "strata[0].bands[0]", "from a lower to a higher age"),
        (["18-29", "old"], "strata[0].bands[1]", "is not an age band"),
        (["18-200", "201+"], "strata[0].bands[0]", "up to 120"),
        (["18+"], "strata[0].bands", "list of 2 to 12 age bands"),
    ],
)
def test_bad_bands_are_named(bands: list[str], field: str, message: str) -> None:
    study, problems = validate_study(_with([{"key": "age_band", "bands": bands}]))
    assert study is None
    assert any(p.field == field and message in p.message for p in problems), problems


def test_values_and_bands_together_or_two_band_factors_are_refused() -> None:
    both = _with([{"key": "age_band", "bands": BANDS, "values": ["a", "b"]}])
    _, problems = validate_study(both)
    assert any(p.field == "strata[0].values" and "not both" in p.message for p in problems)
    twice = _with([{"key": "age", "bands": BANDS}, {"key": "age_band", "bands": BANDS}])
    _, problems = validate_study(twice)
    assert any(p.field == "strata[1].bands" and "one factor only" in p.message for p in problems)


def test_assessment_reminders_default_on_and_an_arm_may_turn_them_off() -> None:
    study, _ = validate_study(YUXI)
    assert study is not None
    assert [a.assessment_reminders for a in study.arms] == [True, True]
    off, problems = validate_study(_with(assessment_reminders=False))
    assert problems == []
    assert off is not None
    assert [a.assessment_reminders for a in off.arms] == [True, False]
    _, problems = validate_study(_with(assessment_reminders="no"))
    assert any(
        p.field == "arms[1].assessment_reminders" and "true or false" in p.message for p in problems
    ), problems
