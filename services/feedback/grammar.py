"""What a patient's reply means: pure functions, no I/O (unit-tested in both languages).

Replies are short: a digit, a keyword, a few characters of Chinese. Text is NFKC-normalised
first, so full-width digits and letters (`１`, `ＳＴＯＰ`) read as their ASCII forms, then
case and surrounding or inner spaces are ignored for keywords. A whole reply that is a
keyword is that command; a bare number other than 1-5 is a number (a survey's choice, or a
rating out of range that earns a helpful reply); anything else is a need, urgent if it
holds an urgent word, and sorted into a category by keyword rules for coordinators' lists.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    RATING = "rating"
    NUMBER = "number"  # any other bare number: a survey answer, or a rating out of range
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    RECORD = "record"
    NEED = "need"


class Category(StrEnum):
    MEDICAL = "medical"
    COUNSELLING = "counselling"
    LEGAL = "legal"
    HOUSING_INCOME = "housing_income"
    FAMILY = "family"
    OTHER = "other"


KEYWORDS: dict[str, Kind] = {
    "stop": Kind.OPT_OUT,
    "退订": Kind.OPT_OUT,
    "td": Kind.OPT_OUT,
    "t": Kind.OPT_OUT,
    "unsubscribe": Kind.OPT_OUT,
    "start": Kind.OPT_IN,
    "订阅": Kind.OPT_IN,
    "help": Kind.HELP,
    "帮助": Kind.HELP,
    "record": Kind.RECORD,
    "记录": Kind.RECORD,
    "查询": Kind.RECORD,
}

# Whole words in English (so "die" never matches "diet"), anywhere in Chinese.
URGENT_WORDS: tuple[str, ...] = (
    "overdose",
    "overdosed",
    "od",
    "suicide",
    "suicidal",
    "kill myself",
    "end my life",
    "want to die",
    "die",
    "dying",
    "emergency",
    "想死",
    "自杀",
    "过量",
    "不想活",
    "救命",
    "活不下去",
    "轻生",
    "跳楼",
    "割腕",
    "吃药死",
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# First matching rule wins; order puts the most actionable categories first. English words
# match whole words (with an optional plural s), Chinese anywhere.
CATEGORY_RULES: tuple[tuple[Category, tuple[str, ...]], ...] = (
    (
        Category.MEDICAL,
        _words(
            "dose doctor pain sick ill withdrawal hospital medicine overdose hiv hcv hepatitis "
            "fever vomit hurt 剂量 医生 疼 痛 病 戒断 难受 医院 药 发烧 呕吐 过量 肝炎 艾滋"
        ),
    ),
    (
        Category.COUNSELLING,
        _words(
            "counsel counselling talk sad depressed anxious lonely craving relapse suicide die "
            "stress 心理 咨询 聊 难过 抑郁 焦虑 孤独 想吸 复吸 想死 自杀 不想活 压力 烦"
        ),
    ),
    (
        Category.LEGAL,
        _words(
            "police court lawyer legal arrest arrested detox detention 警察 派出所 法院 律师 "
            "法律 抓 强戒 拘留 戒毒所"
        ),
    ),
    (
        Category.HOUSING_INCOME,
        _words(
            "job work money rent house housing home food income insurance fee 工作 钱 房租 住 "
            "吃饭 收入 低保 医保 费用 失业"
        ),
    ),
    (
        Category.FAMILY,
        _words(
            "family wife husband child children mother father parents son daughter 家 老婆 "
            "妻子 丈夫 孩子 儿子 女儿 父母 妈 爸"
        ),
    ),
)


@dataclass(frozen=True)
class Reply:
    kind: Kind
    rating: int | None = None
    urgent: bool = False
    category: Category | None = None  # needs only


def normalise(text: str) -> str:
    """NFKC (full-width forms to ASCII), lower case, whitespace collapsed and trimmed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split())


def _compact(text: str) -> str:
    """The normalised text without spaces or trailing punctuation: what keywords match."""
    joined = "".join(normalise(text).split())
    return joined.strip(".!?,;:。！？，；：~～")


def _is_cjk(word: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in word)


def _pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    parts: list[str] = []
    for raw in words:
        word = normalise(raw)
        if not word:
            continue
        escaped = r"\s*".join(re.escape(ch) for ch in word.replace(" ", ""))
        if _is_cjk(word):
            parts.append(escaped)  # Chinese has no word boundaries: match anywhere
        else:
            parts.append(rf"(?<![a-z0-9]){escaped}s?(?![a-z0-9])")
    if not parts:
        return None
    return re.compile("|".join(sorted(parts, key=len, reverse=True)))


class Grammar:
    """The reply grammar with a clinic's extra urgent words (FEEDBACK_URGENT_WORDS_EXTRA)."""

    def __init__(self, extra_urgent: Iterable[str] = ()) -> None:
        self._urgent = _pattern([*URGENT_WORDS, *extra_urgent])
        self._categories = [(category, _pattern(words)) for category, words in CATEGORY_RULES]

    def parse(self, text: str) -> Reply:
        compact = _compact(text)
        if len(compact) == 1 and compact in "12345":
            return Reply(Kind.RATING, rating=int(compact))
        if compact.isascii() and compact.isdigit() and len(compact) <= 3:
            return Reply(Kind.NUMBER, rating=int(compact))
        kind = KEYWORDS.get(compact)
        if kind is not None:
            return Reply(kind)
        return Reply(Kind.NEED, urgent=self.is_urgent(text), category=self.categorise(text))

    def is_urgent(self, text: str) -> bool:
        return self._urgent is not None and self._urgent.search(normalise(text)) is not None

    def categorise(self, text: str) -> Category:
        folded = normalise(text)
        for category, pattern in self._categories:
            if pattern is not None and pattern.search(folded):
                return category
        return Category.OTHER


def split_words(value: str) -> list[str]:
    """Comma-separated words (ASCII or full-width commas), blanks dropped."""
    return [part.strip() for part in re.split(r"[,，、]", value) if part.strip()]
