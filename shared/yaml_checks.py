"""The field checks every YAML document validator makes (a curriculum track, a risk
instrument): each failure becomes a `Problem` naming file, line and field, and checking
goes on so that every problem is reported at once, not just the first."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from shared.yaml_problems import Path, Problem, Source

ZH_CN = "zh-CN"
LANGUAGES = (ZH_CN, "en")  # zh-CN is required everywhere; en is expected
# A required field that is absent: `mapping` reports it once, the field checks stay quiet.
MISSING: Any = object()


class Checker:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def fail(self, path: Path, message: str) -> None:
        self.problems.append(self.source.problem(path, message))

    def mapping(
        self, value: Any, path: Path, required: Collection[str], optional: Collection[str] = ()
    ) -> dict[str, Any] | None:
        if value is MISSING:
            return None
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping with {', '.join(required)}")
            return None
        allowed = [*required, *optional]
        for key in value:
            if key not in allowed:
                self.fail((*path, str(key)), f"unknown field (expected {', '.join(allowed)})")
        for key in required:
            if key not in value:
                self.fail((*path, key), "missing")
        return value

    def sequence(
        self, value: Any, path: Path, what: str, least: int, most: int
    ) -> list[Any] | None:
        """A list of `least` to `most` entries."""
        if value is MISSING:
            return None
        if not isinstance(value, list) or not least <= len(value) <= most:
            self.fail(path, f"must be a list of {least} to {most} {what}")
            return None
        return value

    def text(self, value: Any, path: Path, limit: int) -> str | None:
        if value is MISSING:
            return None
        if not isinstance(value, str):
            hint = ""
            if isinstance(value, bool | int | float) or value is None:
                hint = f" (YAML read {value!r}: put the text in quotes)"
            self.fail(path, f"must be text{hint}")
            return None
        cleaned = value.replace("\r\n", "\n").strip()
        if not cleaned:
            self.fail(path, "must not be empty")
            return None
        if len(cleaned) > limit:
            self.fail(path, f"is {len(cleaned)} characters long (max {limit})")
        return cleaned

    def code(self, value: Any, path: Path, pattern: re.Pattern[str], what: str) -> str | None:
        if value is MISSING:
            return None
        if not isinstance(value, str) or not pattern.fullmatch(value):
            self.fail(path, f"{value!r} is not a valid {what} ({pattern.pattern})")
            return None
        return value

    def integer(self, value: Any, path: Path) -> int | None:
        if value is MISSING:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be a whole number, not {value!r}")
            return None
        return value

    def languages(self, value: Any, path: Path) -> dict[str, Any] | None:
        if value is MISSING:
            return None
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping by language ({', '.join(LANGUAGES)})")
            return None
        for language in value:
            if language not in LANGUAGES:
                self.fail(
                    (*path, str(language)),
                    f"unknown language {language!r} (use {', '.join(LANGUAGES)})",
                )
        if ZH_CN not in value:
            self.fail((*path, ZH_CN), "missing: every text needs a zh-CN version")
        return {k: v for k, v in value.items() if k in LANGUAGES}

    def texts(self, value: Any, path: Path, limit: int) -> dict[str, str] | None:
        """A text in each language (zh-CN required)."""
        by_language = self.languages(value, path)
        if by_language is None:
            return None
        texts = {lang: self.text(text, (*path, lang), limit) for lang, text in by_language.items()}
        return {lang: t for lang, t in texts.items() if t is not None}
