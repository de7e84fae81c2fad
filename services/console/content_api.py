"""The curriculum pages' API calls: the content service's tracks, versions and channel
previews, read with the signed-in person's token (every role a console person has may read
the curriculum; editing stays in the content API and `mmt content`)."""

from __future__ import annotations

from typing import Literal

import msgspec

from services.console.api_client import ServicesClient

Audience = Literal["patients", "staff"]


class Track(msgspec.Struct, kw_only=True):
    code: str
    audience: Audience = "patients"
    titles: dict[str, str]
    published_version: int | None
    draft_version: int | None


class Quiz(msgspec.Struct, kw_only=True):
    question: str
    options: list[str]


class Translation(msgspec.Struct, kw_only=True):
    title: str
    notification: str
    body: str
    quiz: Quiz | None = None

    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.body.split("\n\n") if p.strip()]


class Lesson(msgspec.Struct, kw_only=True):
    key: str
    tags: list[str] = []
    quiz_answer: int | None = None
    translations: dict[str, Translation]

    def text(self, language: str) -> Translation:
        """The lesson in `language`, or in zh-CN (always there) when it has none."""
        return self.translations.get(language) or self.translations["zh-CN"]


class Module(msgspec.Struct, kw_only=True):
    code: str
    titles: dict[str, str]
    lessons: list[Lesson] = []


class Head(msgspec.Struct, kw_only=True):
    code: str
    titles: dict[str, str]
    audience: Audience = "patients"
    lessons_per_week: int
    weekdays: list[str]
    time: str
    next: str | None = None


class Document(msgspec.Struct, kw_only=True):
    track: Head
    modules: list[Module] = []


class Version(msgspec.Struct, kw_only=True):
    version: int
    state: str


class VersionContent(msgspec.Struct, kw_only=True):
    version: Version
    content: Document


class Preview(msgspec.Struct, kw_only=True):
    channel: str
    language: str
    text: str | None = None
    fields: dict[str, str] | None = None
    template_id: str | None = None
    send_mode: str | None = None
    problem: str | None = None
    segments: int | None = None
    encoding: str | None = None


class ContentApi:
    def __init__(self, api: ServicesClient) -> None:
        self.api = api

    async def tracks(self, token: str) -> list[Track]:
        body = await self.api.call(token, "GET", f"{self.api.content}/api/v1/tracks")
        return msgspec.json.decode(body, type=list[Track])

    async def track(self, token: str, code: str) -> Track:
        body = await self.api.call(token, "GET", f"{self.api.content}/api/v1/tracks/{code}")
        return msgspec.json.decode(body, type=Track)

    async def version(self, token: str, code: str, version: int) -> VersionContent:
        url = f"{self.api.content}/api/v1/tracks/{code}/versions/{version}"
        return msgspec.json.decode(await self.api.call(token, "GET", url), type=VersionContent)

    async def preview(
        self, token: str, code: str, version: int, key: str, channel: str, language: str
    ) -> Preview:
        url = f"{self.api.content}/api/v1/tracks/{code}/versions/{version}/lessons/{key}/preview"
        params = {"channel": channel, "language": language}
        body = await self.api.call(token, "GET", url, params=params)
        return msgspec.json.decode(body, type=Preview)
