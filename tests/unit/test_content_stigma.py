"""The stigmatising-word check: what it catches, what it leaves alone, and its settings."""

from __future__ import annotations

import pytest

from shared.stigma import StigmaList, StigmaSettings, default_stigma_list, find_stigma

DEFAULTS = StigmaList.from_settings(StigmaSettings())


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Time for your methadone", ["methadone"]),
        ("METHADONE and Heroin", ["methadone", "heroin"]),
        ("Free HIV test today", ["HIV"]),
        ("HIV检测", ["HIV"]),  # no space before Chinese: still a whole English word
        ("no drugs please", ["drug"]),  # a plural is the same word
        ("detoxes", ["detox"]),
        ("今天去美沙酮门诊", ["美沙酮门诊"]),  # reported once, as the longer word
        ("美沙酮和艾滋病", ["美沙酮", "艾滋"]),
        ("别吸毒", ["吸毒"]),
    ],
)
def test_finds_stigmatising_words(text: str, found: list[str]) -> None:
    assert find_stigma(text, DEFAULTS) == found


@pytest.mark.parametrize(
    "text",
    [
        "Time for your daily visit",
        "The drugstore opens at nine",  # whole words only
        "Shmmt",
        "今天的健康小课已准备好",
        "",
    ],
)
def test_leaves_discreet_text_alone(text: str) -> None:
    assert find_stigma(text, DEFAULTS) == []


def test_extra_and_allowed_words_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STIGMA_WORDS_EXTRA", "clinic, 门诊 ,")
    monkeypatch.setenv("STIGMA_WORDS_ALLOW", "mmt,Methadone")
    default_stigma_list.cache_clear()
    try:
        assert find_stigma("MMT clinic: methadone at 门诊") == ["clinic", "门诊"]
        assert find_stigma("heroin") == ["heroin"]  # the other defaults stay
    finally:
        default_stigma_list.cache_clear()


def test_settings_are_documented() -> None:
    for name, field in StigmaSettings.model_fields.items():
        assert field.description, name
