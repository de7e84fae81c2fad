"""SMS segment counting: the boundaries where one more character costs one more message."""

from __future__ import annotations

import pytest

from shared.sms import encoding, length, segments

ZH = "药"  # any Chinese character: UCS-2
EMOJI = "💊"  # outside the Basic Multilingual Plane: two UTF-16 code units


@pytest.mark.parametrize(
    ("count", "expected"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_chinese_is_ucs2_70_alone_67_per_part(count: int, expected: int) -> None:
    text = ZH * count
    assert encoding(text) == "UCS-2"
    assert segments(text) == expected


@pytest.mark.parametrize(
    ("count", "expected"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3)],
)
def test_ascii_is_gsm7_160_alone_153_per_part(count: int, expected: int) -> None:
    text = "a" * count
    assert encoding(text) == "GSM-7"
    assert segments(text) == expected


def test_gsm7_includes_its_accented_and_greek_letters() -> None:
    text = "Ça va? Ñandù, Øre, Δ and £5 @ 10:00 ¿¡§"
    assert encoding(text) == "GSM-7"
    assert length(text) == len(text)


@pytest.mark.parametrize("char", ["^", "{", "}", "\\", "[", "~", "]", "|", "€", "\f"])
def test_extension_characters_count_two(char: str) -> None:
    assert encoding(char) == "GSM-7"
    assert length("a" * 10 + char) == 12
    assert segments("a" * 158 + char) == 1  # 160 septets
    assert segments("a" * 159 + char) == 2  # 161 septets


def test_an_extension_character_is_not_split_between_parts() -> None:
    # 152 + 2 would straddle the first part's 153 septets: the euro moves to part two.
    text = "a" * 152 + "€" + "a" * 152
    assert length(text) == 306  # would fit exactly in two parts if split
    assert segments(text) == 3


def test_one_non_gsm_character_makes_the_whole_text_ucs2() -> None:
    text = "a" * 69 + "é"  # é is GSM-7
    assert (encoding(text), segments(text)) == ("GSM-7", 1)
    text = "a" * 70 + "ê"  # ê is not
    assert (encoding(text), segments(text)) == ("UCS-2", 2)
    assert encoding("Hello 你好") == "UCS-2"


def test_emoji_count_two_code_units_and_are_not_split() -> None:
    assert length(EMOJI) == 2
    assert segments(ZH * 68 + EMOJI) == 1  # 70 units
    assert segments(ZH * 69 + EMOJI) == 2  # 71 units
    # 66 + 2 would straddle the first part's 67 units.
    assert segments(ZH * 66 + EMOJI + ZH * 66) == 3


def test_empty_text_is_one_message() -> None:
    assert segments("") == 1
    assert encoding("") == "GSM-7"
