"""Risk instruments as data: what a definition may say, its validation, and scoring.

A definition (a YAML file under `risk/`, or the same data sent to the API) names the
instrument, its items (each with its allowed answers and their points) and its bands
(low / medium / high, each from a minimum total). It is validated like a curriculum track
(shared.yaml_checks): every problem is reported at once with its file, line and field, and
only a definition without problems becomes an `Instrument`. The format is in risk/README.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from shared.errors import InvalidInput
from shared.yaml_checks import MISSING, Checker
from shared.yaml_problems import Path, Problem, Source

Band = Literal["low", "medium", "high"]
BANDS: tuple[Band, ...] = ("low", "medium", "high")  # in rising order of risk
CODE = re.compile(r"[a-z0-9-]{2,40}")
VALUE = re.compile(r"[a-z0-9-]{1,40}")
_TEXT_LIMIT = 200
_MAX_POINTS = 100
_MAX_ITEMS = 60
_MAX_VERSION = 1_000_000


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    value: str
    points: int
    texts: dict[str, str]


class Item(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    texts: dict[str, str]
    answers: list[Answer]


class BandRule(msgspec.Struct, frozen=True, kw_only=True):
    band: Band
    min: int  # the lowest total in this band


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    version: int
    titles: dict[str, str]
    items: list[Item]
    bands: list[BandRule]

    def max_total(self) -> int:
        return max_total(self.items)

    def band_of(self, total: int) -> Band:
        band = self.bands[0].band
        for rule in self.bands:
            if total >= rule.min:
                band = rule.band
        return band

    def score(self, answers: Mapping[str, str]) -> tuple[int, Band]:
        """The total and band of a full set of answers; refused naming each wrong item."""
        problems = []
        by_key = {item.key: item for item in self.items}
        for key in answers:
            if key not in by_key:
                problems.append(f"answers.{key}: not an item of {self.code!r}")
        total = 0
        for item in self.items:
            given = answers.get(item.key)
            if given is None:
                problems.append(f"answers.{item.key}: missing")
                continue
            points = {answer.value: answer.points for answer in item.answers}
            if given not in points:
                allowed = ", ".join(points)
                problems.append(f"answers.{item.key}: {given!r} is not one of {allowed}")
                continue
            total += points[given]
        if problems:
            raise InvalidInput("; ".join(problems))
        return total, self.band_of(total)


def max_total(items: list[Item]) -> int:
    return sum(max(answer.points for answer in item.answers) for item in items)


class InstrumentChecker(Checker):
    """Risk instruments' checks; the header and answer lists serve questionnaires too
    (assessment_definition.py)."""

    def header(self, value: Any) -> tuple[str, int, dict[str, str]] | None:
        """`instrument:` with its code, version and titles."""
        head = self.mapping(value, ("instrument",), ("code", "version", "titles"))
        if head is None:
            return None
        code = self.code(head.get("code", MISSING), ("instrument", "code"), CODE, "code")
        version = self.integer(head.get("version", MISSING), ("instrument", "version"))
        if version is not None and not 1 <= version <= _MAX_VERSION:
            self.fail(("instrument", "version"), f"must be from 1 to {_MAX_VERSION}")
        titles = self.texts(head.get("titles", MISSING), ("instrument", "titles"), _TEXT_LIMIT)
        if code is None or version is None or titles is None:
            return None
        return code, version, titles

    def instrument(self, data: Any) -> Instrument | None:
        top = self.mapping(data, (), ("instrument", "items", "bands"))
        if top is None:
            return None
        head = self.header(top.get("instrument", MISSING))
        items = self.items(top.get("items", MISSING))
        # Reachable thresholds are only judged against items read without a problem.
        bands = self.bands(top.get("bands", MISSING), None if self.problems else items)
        if self.problems or head is None or not items or not bands:
            return None
        code, version, titles = head
        return Instrument(code=code, version=version, titles=titles, items=items, bands=bands)

    def items(self, value: Any) -> list[Item] | None:
        listed = self.sequence(value, ("items",), "items", 1, _MAX_ITEMS)
        if listed is None:
            return None
        items: list[Item] = []
        seen: set[str] = set()
        for index, raw in enumerate(listed):
            path: Path = ("items", index)
            entry = self.mapping(raw, path, ("key", "texts", "answers"))
            if entry is None:
                continue
            key = self.code(entry.get("key", MISSING), (*path, "key"), CODE, "item key")
            if key is not None and key in seen:
                self.fail((*path, "key"), f"item {key!r} appears twice")
            texts = self.texts(entry.get("texts", MISSING), (*path, "texts"), _TEXT_LIMIT)
            answers = self.answers(entry.get("answers", MISSING), (*path, "answers"))
            if key is not None and texts is not None and answers is not None:
                seen.add(key)
                items.append(Item(key=key, texts=texts, answers=answers))
        return items

    def answers(self, value: Any, path: Path, points: bool = True) -> list[Answer] | None:
        """2 to 10 answers, each with its points (optional, 0 when left out, if not `points`)."""
        listed = self.sequence(value, path, "answers", 2, 10)
        if listed is None:
            return None
        answers: list[Answer] = []
        seen: set[str] = set()
        for index, raw in enumerate(listed):
            at: Path = (*path, index)
            required = ("value", "points", "texts") if points else ("value", "texts")
            entry = self.mapping(raw, at, required, () if points else ("points",))
            if entry is None:
                continue
            raw_value = entry.get("value", MISSING)
            if isinstance(raw_value, int) and not isinstance(raw_value, bool):
                raw_value = str(raw_value)  # `value: 0` in YAML means the answer "0"
            answer = self.code(raw_value, (*at, "value"), VALUE, "answer value")
            if answer is not None and answer in seen:
                self.fail((*at, "value"), f"answer {answer!r} appears twice")
            given = self.integer(entry.get("points", MISSING if points else 0), (*at, "points"))
            if given is not None and not 0 <= given <= _MAX_POINTS:
                self.fail((*at, "points"), f"must be from 0 to {_MAX_POINTS}")
            texts = self.texts(entry.get("texts", MISSING), (*at, "texts"), _TEXT_LIMIT)
            if answer is not None and given is not None and texts is not None:
                seen.add(answer)
                answers.append(Answer(value=answer, points=given, texts=texts))
        return answers

    def bands(self, value: Any, items: list[Item] | None) -> list[BandRule] | None:
        listed = self.sequence(value, ("bands",), "bands (low, medium, high)", 2, 3)
        if listed is None:
            return None
        rules: list[BandRule] = []
        for index, raw in enumerate(listed):
            path: Path = ("bands", index)
            entry = self.mapping(raw, path, ("band", "min"))
            if entry is None:
                continue
            band = entry.get("band", MISSING)
            if band is not MISSING and band not in BANDS:
                self.fail((*path, "band"), f"{band!r} is not one of {', '.join(BANDS)}")
            least = self.integer(entry.get("min", MISSING), (*path, "min"))
            if band in BANDS and least is not None:
                rules.append(BandRule(band=band, min=least))
        if len(rules) != len(listed):
            return None
        self._band_order(rules, items)
        return rules

    def _band_order(self, rules: list[BandRule], items: list[Item] | None) -> None:
        order = [BANDS.index(rule.band) for rule in rules]
        if order != sorted(set(order)):
            self.fail(("bands",), "bands must rise in order low, medium, high, each once")
        if rules[0].min != 0:
            self.fail(("bands", 0, "min"), "the first band must start at 0")
        for index in range(1, len(rules)):
            if rules[index].min <= rules[index - 1].min:
                self.fail(("bands", index, "min"), "must be above the band before it")
        if items:
            most = max_total(items)
            for index, rule in enumerate(rules):
                if rule.min > most:
                    self.fail(
                        ("bands", index, "min"),
                        f"{rule.min} can never be reached (the highest total is {most})",
                    )


def validate_instrument(
    data: Any, source: Source | None = None
) -> tuple[Instrument | None, list[Problem]]:
    checker = InstrumentChecker(source or Source())
    instrument = checker.instrument(data)
    return instrument, checker.problems


def decode_instrument(stored: Any) -> Instrument:
    """An instrument as stored (it was validated when loaded)."""
    return msgspec.convert(stored, Instrument)


def band_rank(band: str) -> int:
    """Higher is riskier; -1 for no band."""
    for rank, known in enumerate(BANDS):
        if band == known:
            return rank
    return -1
