"""The curriculum as data (the YAML file format) and the HTTP API's bodies.

`TrackDocument` mirrors one YAML file exactly (see `curriculum/`): the importer, the API,
publishing and export all speak it, and validation (`service/validation.py`) checks it in
one place. Field names follow the file format, so a version's JSON and its YAML match.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

ZH_CN = "zh-CN"
LANGUAGES = ("zh-CN", "en")  # zh-CN is required everywhere; en is expected
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index + 1 = ISO number

Channel = Literal["sms", "wechat"]


class _Doc(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class Quiz(_Doc):
    question: str
    options: list[str]


class Translation(_Doc):
    title: str
    notification: str  # what SMS/WeChat carry: discreet, at most two SMS segments
    body: str  # the lesson page: paragraphs separated by blank lines
    quiz: Quiz | None = None


class LessonDoc(_Doc):
    key: str
    tags: list[str] = msgspec.field(default_factory=list)
    quiz_answer: int | None = None  # the same option index in every language
    # A default only so that the file's field order can be kept; zh-CN is required.
    translations: dict[str, Translation] = msgspec.field(default_factory=dict)


class ModuleDoc(_Doc):
    code: str
    titles: dict[str, str]
    lessons: list[LessonDoc] = msgspec.field(default_factory=list)


class TrackHead(_Doc):
    """A track version's own fields: titles and the default cadence."""

    code: str
    titles: dict[str, str]
    lessons_per_week: int
    weekdays: list[str]
    time: str  # "HH:MM", patients' local time
    next: str | None = None  # the track that follows this one


class TrackDocument(_Doc):
    """One track version's whole content, as in a YAML file."""

    track: TrackHead
    modules: list[ModuleDoc] = msgspec.field(default_factory=list)

    def lessons(self) -> list[tuple[ModuleDoc, LessonDoc]]:
        """Every lesson in track order, with its module."""
        return [(module, lesson) for module in self.modules for lesson in module.lessons]


# --- API bodies ----------------------------------------------------------------------------


class _In(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class TrackPatch(_In):
    """Change the draft's titles or cadence; `next: null` removes the following track."""

    titles: dict[str, str] | UnsetType = UNSET
    lessons_per_week: int | UnsetType = UNSET
    weekdays: list[str] | UnsetType = UNSET
    time: str | UnsetType = UNSET
    next: str | UnsetType | None = UNSET


class ModuleIn(_In):
    code: str
    titles: dict[str, str]
    position: int | None = None  # 1-based among modules; at the end when absent


class ModulePatch(_In):
    titles: dict[str, str] | UnsetType = UNSET
    position: int | UnsetType = UNSET


class LessonIn(_In):
    module: str
    key: str
    tags: list[str] = msgspec.field(default_factory=list)
    quiz_answer: int | None = None
    translations: dict[str, Translation] = msgspec.field(default_factory=dict)
    position: int | None = None  # 1-based within its module; at the end when absent


class LessonPatch(_In):
    """Translations merge by language: a language given replaces it, `null` removes it."""

    module: str | UnsetType = UNSET  # move the lesson to another module (at its end)
    position: int | UnsetType = UNSET  # 1-based within its module
    tags: list[str] | UnsetType = UNSET
    quiz_answer: int | UnsetType | None = UNSET
    translations: dict[str, Translation | None] | UnsetType = UNSET


class TrackOut(msgspec.Struct, kw_only=True):
    code: str
    titles: dict[str, str]  # of the newest version
    published_version: int | None
    draft_version: int | None
    versions: int


class VersionOut(msgspec.Struct, kw_only=True):
    track: str
    version: int
    state: str
    created_at: datetime
    published_at: datetime | None
    modules: int
    lessons: int


class VersionContent(msgspec.Struct, kw_only=True):
    version: VersionOut
    content: TrackDocument


class PreviewOut(msgspec.Struct, kw_only=True):
    """What a channel would carry for a lesson, in one language.

    sms: `text` is the whole message (notification, a space, the link) and `segments` /
    `encoding` are its cost. wechat: `fields` are the template message's fields and
    `segments` / `encoding` are of the notification alone (what an SMS fallback costs
    before the link). `notification_segments` is what validation limits to two.
    """

    channel: Channel
    language: str
    link: str  # a sample lesson-page link of real length
    text: str | None = None
    fields: dict[str, str] | None = None
    segments: int
    encoding: str
    notification_segments: int


class ProblemOut(msgspec.Struct, kw_only=True):
    file: str | None
    line: int | None
    field: str
    message: str
