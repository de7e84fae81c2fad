"""Words that could out a patient if they showed on a lock screen.

A reminder or lesson notification is read by whoever picks up the phone. The default list
names the treatment, the drugs and the infections in English and Chinese; a deployment
adds words with `STIGMA_WORDS_EXTRA` and removes defaults with `STIGMA_WORDS_ALLOW`.
Matching ignores case. Words written in ASCII match whole words only (plurals in "s" or "es"
included), so "drug" flags "Drugs" and "HIV检测" but not "drugstore"; other words (Chinese)
match anywhere, as Chinese puts no spaces between words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_WORDS_EN: tuple[str, ...] = (
    "methadone",
    "heroin",
    "opioid",
    "opiate",
    "drug",
    "addict",
    "addiction",
    "HIV",
    "AIDS",
    "hepatitis",
    "HCV",
    "syphilis",
    "overdose",
    "rehab",
    "detox",
    "MMT",
    "needle",
)
DEFAULT_WORDS_ZH: tuple[str, ...] = (
    "美沙酮",
    "海洛因",
    "毒品",
    "吸毒",
    "戒毒",
    "艾滋",
    "梅毒",
    "丙肝",
    "肝炎",
    "成瘾",
    "过量",
    "针具",
    "美沙酮门诊",
)


class StigmaSettings(BaseSettings):
    """Which words a patient-facing notification may not contain."""

    model_config = SettingsConfigDict(
        env_file=None, env_ignore_empty=True, extra="ignore", frozen=True
    )

    stigma_words_extra: str = Field(
        default="",
        description="Comma-separated words to refuse in notifications besides the defaults "
        "(English words match whole words, Chinese anywhere; case is ignored).",
    )
    stigma_words_allow: str = Field(
        default="",
        description="Comma-separated default words to allow after all (e.g. `MMT` for a "
        "clinic whose name holds it).",
    )


def _split(value: str) -> list[str]:
    return [word.strip() for word in value.split(",") if word.strip()]


class StigmaList:
    """A compiled word list; `find` returns the words a text contains, in text order."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words: tuple[str, ...] = tuple(dict.fromkeys(w.strip() for w in words if w.strip()))
        self._patterns = [(word, self._pattern(word)) for word in self.words]

    @staticmethod
    def _pattern(word: str) -> re.Pattern[str]:
        escaped = re.escape(word)
        if word.isascii():
            return re.compile(rf"(?<![A-Za-z0-9]){escaped}(?:e?s)?(?![A-Za-z0-9])", re.IGNORECASE)
        return re.compile(escaped, re.IGNORECASE)

    @classmethod
    def from_settings(cls, settings: StigmaSettings) -> StigmaList:
        allowed = {word.casefold() for word in _split(settings.stigma_words_allow)}
        words = [*DEFAULT_WORDS_EN, *DEFAULT_WORDS_ZH, *_split(settings.stigma_words_extra)]
        return cls(word for word in words if word.casefold() not in allowed)

    def find(self, text: str) -> list[str]:
        spans: list[tuple[int, int, str]] = []
        for word, pattern in self._patterns:
            spans.extend((m.start(), m.end(), word) for m in pattern.finditer(text))
        # A word found inside a longer one found at the same place ("美沙酮" within
        # "美沙酮门诊") is reported once, as the longer word.
        spans.sort(key=lambda span: (span[0], -span[1]))
        found: list[str] = []
        covered_to = -1
        for _start, end, word in spans:
            if end <= covered_to:
                continue
            covered_to = max(covered_to, end)
            if word not in found:
                found.append(word)
        return found


@lru_cache(maxsize=1)
def default_stigma_list() -> StigmaList:
    """The list from the environment, built once per process."""
    return StigmaList.from_settings(StigmaSettings())


def find_stigma(text: str, words: StigmaList | None = None) -> list[str]:
    """The stigmatising words in `text` (the configured list unless one is given)."""
    return (words or default_stigma_list()).find(text)
