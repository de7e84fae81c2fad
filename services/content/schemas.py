"""The curriculum as data (the YAML file format) and the HTTP API's bodies.

`TrackDocument` mirrors one YAML file exactly (see `curriculum/`): the importer, the API,
publishing and export all speak it, and validation (`service/validation.py`) checks it in
one place. Field names follow the file format, so a version's JSON and its YAML match.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import UNSET, UnsetType

ZH_CN = "zh-CN"
LANGUAGES = ("zh-CN", "en")  # zh-CN is required everywhere; en is expected
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index + 1 = ISO number

Channel = Literal["sms", "wechat"]
# Who a track is for: patients get it pushed by the scheduler; staff read it in the console.
Audience = Literal["patients", "staff"]
AUDIENCES: tuple[Audience, ...] = ("patients", "staff")


def _documented(**schema: Any) -> msgspec.Meta:
    """JSON Schema for the OpenAPI document only: the curriculum checks
    (`service/validation.py`) enforce these rules, on the API and on YAML files alike, and
    list every problem at once; msgspec enforcing them first would name only one."""
    return msgspec.Meta(extra_json_schema=schema)


_LANGUAGE_KEYS = {"propertyNames": {"enum": list(LANGUAGES)}}
# Texts by language: zh-CN and en only, zh-CN required.
Titles = Annotated[dict[str, str], _documented(**_LANGUAGE_KEYS, required=[ZH_CN])]
TrackCode = Annotated[str, _documented(pattern=r"^[a-z0-9-]{2,40}$")]
LessonKey = Annotated[str, _documented(pattern=r"^[a-z0-9-]{2,60}$")]
Weekday = Annotated[str, _documented(enum=list(WEEKDAYS))]
Weekdays = Annotated[list[Weekday], _documented(minItems=2, maxItems=3)]  # lessons_per_week
LessonsPerWeek = Annotated[int, _documented(enum=[2, 3])]
LocalTime = Annotated[
    str, _documented(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, 24-hour")
]


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
    titles: Titles
    lessons: list[LessonDoc] = msgspec.field(default_factory=list)


class TrackHead(_Doc):
    """A track version's own fields: titles and the default cadence."""

    code: TrackCode
    titles: Titles
    lessons_per_week: LessonsPerWeek
    weekdays: Weekdays
    time: LocalTime  # patients' local time
    next: str | None = None  # the track that follows this one (of the same audience)
    # Fixed when the track is created. The scheduler plans only patients' tracks.
    audience: Audience = "patients"

    openapi_example: ClassVar[dict[str, Any]] = {
        "code": "core",
        "titles": {"zh-CN": "核心课程", "en": "Core lessons"},
        "lessons_per_week": 3,
        "weekdays": ["mon", "wed", "fri"],
        "time": "19:00",
    }


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

    titles: Titles | UnsetType = UNSET
    lessons_per_week: LessonsPerWeek | UnsetType = UNSET
    weekdays: Weekdays | UnsetType = UNSET
    time: LocalTime | UnsetType = UNSET
    next: str | UnsetType | None = UNSET


class ModuleIn(_In):
    code: str
    titles: Titles
    position: int | None = None  # 1-based among modules; at the end when absent

    openapi_example: ClassVar[dict[str, Any]] = {
        "code": "stigma",
        "titles": {"zh-CN": "面对偏见", "en": "Facing prejudice"},
    }


class ModulePatch(_In):
    titles: Titles | UnsetType = UNSET
    position: int | UnsetType = UNSET


class LessonIn(_In):
    module: str
    key: LessonKey
    tags: list[str] = msgspec.field(default_factory=list)
    quiz_answer: int | None = None
    translations: Annotated[
        dict[str, Translation], _documented(**_LANGUAGE_KEYS, required=[ZH_CN])
    ] = msgspec.field(default_factory=dict)
    position: int | None = None  # 1-based within its module; at the end when absent


class LessonPatch(_In):
    """Translations merge by language: a language given replaces it, `null` removes it."""

    module: str | UnsetType = UNSET  # move the lesson to another module (at its end)
    position: int | UnsetType = UNSET  # 1-based within its module
    tags: list[str] | UnsetType = UNSET
    quiz_answer: int | UnsetType | None = UNSET
    translations: (
        Annotated[dict[str, Translation | None], _documented(**_LANGUAGE_KEYS)] | UnsetType
    ) = UNSET


class TrackOut(msgspec.Struct, kw_only=True):
    code: str
    audience: Audience
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
    `encoding` are its cost. wechat: `fields` are the keyword fields exactly as the
    account's lesson template (WECHAT_TEMPLATES, sent as `send_mode`) will carry them, a
    long `thing` cut as WeChat requires, for a sample patient now; `problem` says why the
    lesson would not go by WeChat instead (no template, a field that cannot keep its rule);
    `segments` / `encoding` are of the notification alone (what an SMS fallback costs
    before the link). `notification_segments` is what validation limits to two.
    """

    channel: Channel
    language: str
    link: str  # a sample lesson-page link of real length
    text: str | None = None
    fields: dict[str, str] | None = None
    template_id: str | None = None
    send_mode: str | None = None
    problem: str | None = None
    segments: int
    encoding: str
    notification_segments: int


class ProblemOut(msgspec.Struct, kw_only=True):
    file: str | None
    line: int | None
    field: str
    message: str
