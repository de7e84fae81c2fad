"""How many SMS segments a text costs, and in which encoding it travels.

A text made only of the GSM 03.38 alphabet goes as GSM-7: 160 septets in a single message,
153 per part once concatenated (the rest of each part carries the concatenation header).
Characters of the extension table take two septets (an escape, then the character). Any
other character (Chinese, most emoji) turns the whole message into UCS-2: 70 UTF-16 code
units in a single message, 67 per part; a character outside the Basic Multilingual Plane
(most emoji) takes two units. Neither an extension character nor a surrogate pair is split
between two parts, as handsets and providers do, so a part may carry one unit less.
"""

from __future__ import annotations

from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

_LIMITS: dict[Encoding, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


def encoding(text: str) -> Encoding:
    """GSM-7 when every character is in the GSM 03.38 basic or extension table."""
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        return "GSM-7"
    return "UCS-2"


def _unit_costs(text: str, chosen: Encoding) -> list[int]:
    """The cost of each character in the encoding's units (septets or UTF-16 code units)."""
    if chosen == "GSM-7":
        return [2 if char in GSM7_EXTENSION else 1 for char in text]
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def length(text: str) -> int:
    """The text's length in its encoding's units."""
    return sum(_unit_costs(text, encoding(text)))


def segments(text: str) -> int:
    """How many SMS segments the text costs (an empty text still is one message)."""
    chosen = encoding(text)
    single, per_part = _LIMITS[chosen]
    costs = _unit_costs(text, chosen)
    if sum(costs) <= single:
        return 1
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:  # never split a two-unit character between parts
            parts += 1
            used = 0
        used += cost
    return parts
