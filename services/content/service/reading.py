"""What happens when a patient opens a lesson link or answers its quiz, and previews.

A lesson link (`shared.lesson_links`) names the track, version, lesson and language and an
opaque `reader` (the scheduler's message id), never a patient. Opening it writes
`LessonOpened`, answering the quiz writes `QuizAnswered`, each in the transaction that read
the lesson; the scheduler attributes them to a patient by the reader. Links made for an
editor's preview carry `PREVIEW_READER` and record nothing, so measurements stay clean.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.content.models import Lesson, Outbox
from services.content.schemas import LANGUAGES, ZH_CN, Channel, PreviewOut, Quiz
from services.content.service import store
from services.content.service.wechat_preview import wechat_card
from shared import sms
from shared.bus import add_to_outbox
from shared.channels.settings import WeChatSettings
from shared.db import Database
from shared.errors import InvalidInput, NotFound
from shared.lesson_links import LessonLink, LessonLinks
from shared.messages import LessonOpened, QuizAnswered

PREVIEW_READER = "preview"


class NoSuchChoice(InvalidInput):
    """The form named no option of the quiz; nothing was recorded."""

    def __init__(self, page: LessonPage) -> None:
        super().__init__("choose one of the answers")
        self.page = page


@dataclass(frozen=True)
class LessonPage:
    """One lesson in the language shown (the link's, else zh-CN)."""

    language: str
    title: str
    body: str
    quiz: Quiz | None
    quiz_answer: int | None


async def _lesson(session: AsyncSession, track_code: str, version: int, key: str) -> Lesson:
    track = await store.find_track(session, track_code)
    row = await store.find_version(session, track, version)
    lesson = (
        await session.execute(
            select(Lesson)
            .where(Lesson.track_version_id == row.id, Lesson.key == key)
            .options(selectinload(Lesson.translations))
        )
    ).scalar_one_or_none()
    if lesson is None:
        raise NotFound(f"track {track_code!r} version {version} has no lesson {key!r}")
    return lesson


def _page(lesson: Lesson, language: str) -> LessonPage:
    by_language = {t.language: t for t in lesson.translations}
    shown = language if language in by_language else ZH_CN
    translation = by_language.get(shown)
    if translation is None:  # validation makes zh-CN required; refuse rather than guess
        raise NotFound("the lesson has no text to show")
    quiz = None
    if translation.quiz_question is not None and lesson.quiz_answer is not None:
        quiz = Quiz(
            question=translation.quiz_question, options=list(translation.quiz_options or [])
        )
    return LessonPage(
        language=shown,
        title=translation.title,
        body=translation.body,
        quiz=quiz,
        quiz_answer=lesson.quiz_answer,
    )


async def open_lesson(db: Database, link: LessonLink) -> LessonPage:
    async with db.transaction() as session:
        lesson = await _lesson(session, link.track, link.version, link.lesson_key)
        page = _page(lesson, link.language)
        if link.reader != PREVIEW_READER:
            opened = LessonOpened(
                reader=link.reader,
                track=link.track,
                lesson_key=link.lesson_key,
                version=link.version,
                language=page.language,
            )
            add_to_outbox(session, Outbox, opened)
    return page


async def answer_quiz(db: Database, link: LessonLink, choice: str | None) -> tuple[LessonPage, int]:
    """The page and the chosen option; `NoSuchChoice` if the choice is not an option."""
    async with db.transaction() as session:
        lesson = await _lesson(session, link.track, link.version, link.lesson_key)
        page = _page(lesson, link.language)
        if page.quiz is None or page.quiz_answer is None:
            raise NotFound("the lesson has no quiz")
        valid = choice is not None and choice.isascii() and choice.isdigit() and len(choice) < 3
        if choice is None or not valid or int(choice) >= len(page.quiz.options):
            raise NoSuchChoice(page)
        chosen = int(choice)
        if link.reader != PREVIEW_READER:
            answered = QuizAnswered(
                reader=link.reader,
                track=link.track,
                lesson_key=link.lesson_key,
                version=link.version,
                choice=chosen,
                correct=chosen == page.quiz_answer,
            )
            add_to_outbox(session, Outbox, answered)
    return page, chosen


async def preview(
    db: Database,
    links: LessonLinks,
    code: str,
    version: int,
    key: str,
    channel: Channel,
    language: str,
    wechat: WeChatSettings,
) -> PreviewOut:
    """What `channel` would carry for the lesson in `language` (else zh-CN, as sent); for
    WeChat, the account's lesson template as it will be filled (`wechat`)."""
    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}")
    async with db.sessions() as session:
        track = await store.find_track(session, code)
        row = await store.find_version(session, track, version)
        document = await store.load_document(session, track, row)
    lesson = next((lesson for _, lesson in document.lessons() if lesson.key == key), None)
    if lesson is None:
        raise NotFound(f"track {code!r} version {version} has no lesson {key!r}")
    shown = language if language in lesson.translations else ZH_CN
    translation = lesson.translations[shown]
    link = links.url(LessonLink(PREVIEW_READER, code, key, version, shown))
    notification = translation.notification
    if channel == "sms":
        text = f"{notification} {link}"
        return PreviewOut(
            channel=channel,
            language=shown,
            link=link,
            text=text,
            segments=sms.segments(text),
            encoding=sms.encoding(text),
            notification_segments=sms.segments(notification),
        )
    card = wechat_card(wechat, shown, notification, link, PREVIEW_READER)
    return PreviewOut(
        channel=channel,
        language=shown,
        link=link,
        fields=card.fields,
        template_id=card.template_id,
        send_mode=card.send_mode,
        problem=card.problem,
        segments=sms.segments(notification),
        encoding=sms.encoding(notification),
        notification_segments=sms.segments(notification),
    )
