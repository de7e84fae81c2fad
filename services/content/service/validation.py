"""Every rule a curriculum must keep, in one place: used by the importer, the API and publish.

The validator reads plain data (from YAML, or a `TrackDocument` turned back into data),
collects every problem rather than stopping at the first, and only when there is none
returns the typed, normalised `TrackDocument` (texts stripped, line ends unified) that
the store keeps. A draft may be incomplete (no modules or lessons yet); publishing needs
at least one lesson and at least one in every module.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

import msgspec

from services.content.schemas import (
    AUDIENCES,
    WEEKDAYS,
    Audience,
    LessonDoc,
    ModuleDoc,
    Quiz,
    TrackDocument,
    TrackHead,
    Translation,
)
from services.content.service.problems import Path, Problem, Source
from shared import sms
from shared.stigma import StigmaList, find_stigma
from shared.yaml_checks import MISSING, Checker

TRACK_CODE = re.compile(r"[a-z0-9-]{2,40}")
MODULE_CODE = TRACK_CODE
LESSON_KEY = re.compile(r"[a-z0-9-]{2,60}")
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")

MAX_NOTIFICATION_SEGMENTS = 2
_LIMITS = {"title": 120, "body": 20_000, "question": 300, "option": 120, "tag": 40}


class _Checker(Checker):
    def __init__(self, source: Source, stigma: StigmaList | None) -> None:
        super().__init__(source)
        self.stigma = stigma

    def titles(self, value: Any, path: Path) -> dict[str, str] | None:
        return self.texts(value, path, _LIMITS["title"])

    # --- the document ----------------------------------------------------------------

    def document(
        self, data: Any, complete: bool, known_tracks: Collection[str] | None
    ) -> TrackDocument | None:
        top = self.mapping(data, (), ("track", "modules") if complete else ("track",), ("modules",))
        if top is None:
            return None
        head = self.track(top.get("track", MISSING), known_tracks)
        modules = self.modules(top.get("modules", []), complete)
        if head is None or modules is None or self.problems:
            return None
        return TrackDocument(track=head, modules=modules)

    def track(self, value: Any, known_tracks: Collection[str] | None) -> TrackHead | None:
        path: Path = ("track",)
        data = self.mapping(
            value,
            path,
            ("code", "titles", "lessons_per_week", "weekdays", "time"),
            ("next", "audience"),
        )
        if data is None:
            return None
        code = self.code(data.get("code", MISSING), (*path, "code"), TRACK_CODE, "track code")
        titles = self.titles(data.get("titles", MISSING), (*path, "titles"))
        per_week = self.integer(data.get("lessons_per_week", MISSING), (*path, "lessons_per_week"))
        if per_week is not None and per_week not in (2, 3):
            self.fail((*path, "lessons_per_week"), f"must be 2 or 3, not {per_week}")
            per_week = None
        weekdays = self.weekdays(data.get("weekdays", MISSING), (*path, "weekdays"), per_week)
        time = data.get("time", MISSING)
        if time is MISSING:
            time = None
        elif isinstance(time, int) and not isinstance(time, bool):
            self.fail((*path, "time"), 'put the time in quotes, e.g. "19:00" (YAML read a number)')
            time = None
        elif not isinstance(time, str) or not _HHMM.fullmatch(time):
            self.fail((*path, "time"), f"must be HH:MM (24-hour), not {time!r}")
            time = None
        audience = self.audience(data.get("audience", "patients"), code, known_tracks)
        following = data.get("next")
        if following is not None:
            following = self.code(following, (*path, "next"), TRACK_CODE, "track code")
            if following is not None and following == code:
                self.fail((*path, "next"), "a track cannot follow itself")
            elif (
                following is not None and known_tracks is not None and following not in known_tracks
            ):
                self.fail(
                    (*path, "next"),
                    f"no track {following!r}: import or create it first (or in the same run)",
                )
            elif (
                following is not None
                and audience is not None
                and isinstance(known_tracks, Mapping)
                and known_tracks.get(following, audience) != audience
            ):
                self.fail(
                    (*path, "next"),
                    f"track {following!r} is for {known_tracks[following]}, this one for "
                    f"{audience}: a track is followed only by one for the same people",
                )
        if (
            code is None
            or titles is None
            or per_week is None
            or weekdays is None
            or time is None
            or audience is None
        ):
            return None
        return TrackHead(
            code=code,
            titles=titles,
            lessons_per_week=per_week,
            weekdays=weekdays,
            time=time,
            next=following,
            audience=audience,
        )

    def audience(
        self, value: Any, code: str | None, known_tracks: Collection[str] | None
    ) -> Audience | None:
        path: Path = ("track", "audience")
        if value not in AUDIENCES:
            self.fail(path, f"must be one of {', '.join(AUDIENCES)}, not {value!r}")
            return None
        audience: Audience = value
        if isinstance(known_tracks, Mapping) and code is not None:
            before = known_tracks.get(code, audience)
            if before != audience:
                self.fail(
                    path,
                    f"track {code!r} is for {before}: a track keeps the audience it was "
                    "created with (make a new track instead)",
                )
                return None
        return audience

    def weekdays(self, value: Any, path: Path, per_week: int | None) -> list[str] | None:
        if value is MISSING:
            return None
        if not isinstance(value, list) or not all(isinstance(day, str) for day in value):
            self.fail(path, f"must be a list of weekdays ({', '.join(WEEKDAYS)})")
            return None
        ok = True
        for index, day in enumerate(value):
            if day not in WEEKDAYS:
                self.fail((*path, index), f"{day!r} is not one of {', '.join(WEEKDAYS)}")
                ok = False
        if len(set(value)) != len(value):
            self.fail(path, "names a weekday twice")
            ok = False
        if per_week is not None and len(value) != per_week:
            self.fail(path, f"names {len(value)} days but lessons_per_week is {per_week}")
            ok = False
        return list(value) if ok else None

    def modules(self, value: Any, complete: bool) -> list[ModuleDoc] | None:
        path: Path = ("modules",)
        if not isinstance(value, list):
            self.fail(path, "must be a list of modules")
            return None
        if complete and not value:
            self.fail(path, "a published track needs at least one module")
        modules: list[ModuleDoc] = []
        codes: set[str] = set()
        keys: set[str] = set()
        for index, item in enumerate(value):
            module_path: Path = (*path, index)
            data = self.mapping(item, module_path, ("code", "titles"), ("lessons",))
            if data is None:
                continue
            code = self.code(
                data.get("code", MISSING), (*module_path, "code"), MODULE_CODE, "module code"
            )
            if code is not None and code in codes:
                self.fail((*module_path, "code"), f"module {code!r} appears twice in the track")
            codes.add(code or "")
            titles = self.titles(data.get("titles", MISSING), (*module_path, "titles"))
            lessons = data.get("lessons", [])
            if not isinstance(lessons, list):
                self.fail((*module_path, "lessons"), "must be a list of lessons")
                continue
            if complete and not lessons:
                self.fail((*module_path, "lessons"), "a published module needs at least a lesson")
            checked = [
                self.lesson(lesson, (*module_path, "lessons", i), keys)
                for i, lesson in enumerate(lessons)
            ]
            if code is not None and titles is not None:
                modules.append(
                    ModuleDoc(code=code, titles=titles, lessons=[x for x in checked if x])
                )
        return modules

    def lesson(self, value: Any, path: Path, keys: set[str]) -> LessonDoc | None:
        data = self.mapping(value, path, ("key", "translations"), ("tags", "quiz_answer"))
        if data is None:
            return None
        key = self.code(data.get("key", MISSING), (*path, "key"), LESSON_KEY, "lesson key")
        if key is not None and key in keys:
            self.fail((*path, "key"), f"lesson {key!r} appears twice in the track")
        keys.add(key or "")
        tags = self.tags(data.get("tags", []), (*path, "tags"))
        by_language = self.languages(data.get("translations", MISSING), (*path, "translations"))
        translations: dict[str, Translation] = {}
        for language, item in (by_language or {}).items():
            checked = self.translation(item, (*path, "translations", language))
            if checked is not None:
                translations[language] = checked
        quiz_answer = self.quiz_answer(data, path, by_language or {}, translations)
        if key is None or tags is None or by_language is None:
            return None
        return LessonDoc(key=key, tags=tags, quiz_answer=quiz_answer, translations=translations)

    def tags(self, value: Any, path: Path) -> list[str] | None:
        if not isinstance(value, list):
            self.fail(path, "must be a list of words")
            return None
        tags = [self.text(tag, (*path, i), _LIMITS["tag"]) for i, tag in enumerate(value)]
        return [tag for tag in tags if tag]

    def translation(self, value: Any, path: Path) -> Translation | None:
        data = self.mapping(value, path, ("title", "notification", "body"), ("quiz",))
        if data is None:
            return None
        title = self.text(data.get("title", MISSING), (*path, "title"), _LIMITS["title"])
        notification = self.notification(data.get("notification", MISSING), (*path, "notification"))
        body = self.text(data.get("body", MISSING), (*path, "body"), _LIMITS["body"])
        quiz = self.quiz(data["quiz"], (*path, "quiz")) if data.get("quiz") is not None else None
        if title is None or notification is None or body is None:
            return None
        if data.get("quiz") is not None and quiz is None:
            return None
        return Translation(title=title, notification=notification, body=body, quiz=quiz)

    def notification(self, value: Any, path: Path) -> str | None:
        text = self.text(value, path, 1000)
        if text is None:
            return None
        count = sms.segments(text)
        if count > MAX_NOTIFICATION_SEGMENTS:
            self.fail(
                path,
                f"{count} SMS segments (max {MAX_NOTIFICATION_SEGMENTS}): "
                f"{sms.length(text)} {sms.encoding(text)} characters",
            )
        for word in find_stigma(text, self.stigma):
            self.fail(path, f'contains "{word}", which could out a patient on a lock screen')
        return text

    def quiz(self, value: Any, path: Path) -> Quiz | None:
        data = self.mapping(value, path, ("question", "options"))
        if data is None:
            return None
        question = self.text(
            data.get("question", MISSING), (*path, "question"), _LIMITS["question"]
        )
        options = data.get("options", MISSING)
        if options is MISSING:
            return None
        if not isinstance(options, list) or not 2 <= len(options) <= 5:
            self.fail((*path, "options"), "must be a list of 2 to 5 options")
            return None
        texts = [
            self.text(o, (*path, "options", i), _LIMITS["option"]) for i, o in enumerate(options)
        ]
        present = [t for t in texts if t is not None]
        if len(set(present)) != len(present):
            self.fail((*path, "options"), "has the same option twice")
        if question is None or any(t is None for t in texts):
            return None
        return Quiz(question=question, options=[t for t in texts if t is not None])

    def quiz_answer(
        self,
        data: dict[str, Any],
        path: Path,
        raw: dict[str, Any],
        translations: dict[str, Translation],
    ) -> int | None:
        with_quiz = [lang for lang, t in raw.items() if isinstance(t, dict) and t.get("quiz")]
        answer_path: Path = (*path, "quiz_answer")
        answer = data.get("quiz_answer")
        if answer is None and not with_quiz:
            return None
        for language in raw:
            if language not in with_quiz:
                self.fail(
                    (*path, "translations", language, "quiz"),
                    "missing: the lesson has a quiz, so every translation needs it",
                )
        if answer is None:
            self.fail(answer_path, "missing: the lesson has a quiz, so say which option is right")
            return None
        answer = self.integer(answer, answer_path)
        counts = {lang: len(t.quiz.options) for lang, t in translations.items() if t.quiz}
        if len(set(counts.values())) > 1:
            listed = ", ".join(f"{lang} has {n}" for lang, n in counts.items())
            self.fail(answer_path, f"translations differ in how many options they offer ({listed})")
        if answer is not None and counts and not 0 <= answer < min(counts.values()):
            self.fail(
                answer_path,
                f"{answer} is not an option index (0 to {min(counts.values()) - 1})",
            )
        return answer


def validate_document(
    data: Any,
    source: Source | None = None,
    *,
    complete: bool = True,
    stigma: StigmaList | None = None,
    known_tracks: Collection[str] | None = None,
) -> tuple[TrackDocument | None, list[Problem]]:
    """The normalised document and no problems, or None and every problem found.

    `complete` asks for what publishing needs (modules with lessons); `known_tracks`, when
    given, are the track codes `next` may name; as a mapping of code to audience it also
    keeps a track's audience fixed and `next` within one audience.
    """
    checker = _Checker(source or Source(), stigma)
    document = checker.document(data, complete, known_tracks)
    return (None, checker.problems) if checker.problems else (document, [])


def as_data(document: TrackDocument) -> Any:
    """A document back as plain data, for validating it again after a change."""
    return msgspec.to_builtins(document)
