"""The curriculum pages (issue 19 page 6; staff training, issue 22): the tracks, a track's
lessons, and one lesson either as patients receive it (a phone-sized preview of the SMS and
of the WeChat card, from the content API's own preview, so it is exactly what is sent) or,
for a staff track, as a provider reads it in the console.

Every person signed in may read the curriculum; editing stays in the content API and
`mmt content`. Codes that cannot name a track or lesson get the not-found page before any
API call."""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from services.console.api_client import ApiNotFound
from services.console.content_api import ContentApi, Lesson, Module, Track, VersionContent
from services.console.i18n import LANGUAGES, current_language
from services.console.pages import console_of, page, signed_in
from services.console.training_api import TrainingApi

Req = Request[Any, Any, Any]
_TRACK = re.compile(r"[a-z0-9-]{2,40}")  # the content service's own patterns
_LESSON = re.compile(r"[a-z0-9-]{2,60}")


def _lesson(content: VersionContent, key: str) -> tuple[Module, Lesson, int]:
    """The lesson, its module and its place (1-based) in the track; not found otherwise."""
    place = 0
    for module in content.content.modules:
        for lesson in module.lessons:
            place += 1
            if lesson.key == key:
                return module, lesson, place
    raise NotFoundException("no such lesson")


class CurriculumPages(Controller):
    path = "/curriculum"

    @get("/")
    async def tracks(self, request: Req) -> Template:
        data = await signed_in(request)
        tracks = await ContentApi(console_of(request).api).tracks(data.token)
        return page(
            request,
            "curriculum.html",
            patients=[t for t in tracks if t.audience == "patients"],
            staff=[t for t in tracks if t.audience == "staff"],
        )

    async def _published(self, request: Req, code: str) -> tuple[str, Track, VersionContent | None]:
        """The person's token, the track and its newest published version (None: none)."""
        if not _TRACK.fullmatch(code):
            raise NotFoundException("no such track")
        token = (await signed_in(request)).token
        api = ContentApi(console_of(request).api)
        try:
            track = await api.track(token, code)
            if track.published_version is None:
                return token, track, None
            return token, track, await api.version(token, code, track.published_version)
        except ApiNotFound:
            raise NotFoundException("no such track") from None

    @get("/{code:str}")
    async def track(self, request: Req, code: FromPath[str]) -> Template:
        _token, track, content = await self._published(request, code)
        return page(request, "curriculum_track.html", track=track, content=content)

    @get("/{code:str}/lessons/{key:str}")
    async def lesson(
        self, request: Req, code: FromPath[str], key: FromPath[str], language: FromQuery[str] = ""
    ) -> Template:
        if not _LESSON.fullmatch(key) or (language and language not in LANGUAGES):
            raise NotFoundException("no such lesson")
        token, track, content = await self._published(request, code)
        if content is None:
            raise NotFoundException("not published")
        module, lesson, place = _lesson(content, key)
        # The patient's language to preview: chosen on the page, the console's by default.
        language = language or current_language.get()
        previews = []
        read_at = None
        if track.audience == "staff":  # the reader's own "read" mark (services/console/training.py)
            mine = await TrainingApi(console_of(request).api).mine(token, current_language.get())
            read_at = next(
                (s.read_at for s in mine.lessons if s.track == code and s.key == key), None
            )
        if track.audience == "patients":
            api = ContentApi(console_of(request).api)
            version = content.version.version
            previews = [
                await api.preview(token, code, version, key, channel, language)
                for channel in ("sms", "wechat")
            ]
        return page(
            request,
            "curriculum_lesson.html",
            track=track,
            module=module,
            lesson=lesson,
            place=place,
            text=lesson.text(language),
            shown_language=language,
            previews=previews,
            read_at=read_at,
        )
