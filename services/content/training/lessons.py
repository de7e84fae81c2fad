"""The staff lessons published now: the newest published version of every staff track,
in track then lesson order. Their quiz questions make the provider knowledge quiz.

Why the lessons' own questions rather than a separate instrument: they are written,
translated and checked by the same validator as the lessons (one file, `curriculum/
staff.yaml`), each question names the lesson that teaches it (so a clinic's weak question
points at the lesson to revisit), and there is nothing second to keep in step. A new
version of a staff track changes the quiz for rounds taken after it; answers keep the
version they were given against."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.content.models import PUBLISHED, Lesson, Track, TrackVersion
from services.content.schemas import ZH_CN


@dataclass(frozen=True)
class Question:
    text: str
    options: tuple[str, ...]


@dataclass(frozen=True)
class StaffLesson:
    track: str
    version: int
    key: str
    titles: dict[str, str]
    answer: int | None  # the quiz's correct option; None: the lesson has no quiz
    questions: dict[str, Question]  # by language

    @property
    def id(self) -> str:
        return f"{self.track}/{self.key}"

    def title(self, language: str) -> str:
        return self.titles.get(language) or self.titles[ZH_CN]

    def question(self, language: str) -> Question:
        return self.questions.get(language) or self.questions[ZH_CN]


async def staff_lessons(session: AsyncSession) -> list[StaffLesson]:
    newest = (
        select(TrackVersion.track_id, func.max(TrackVersion.version).label("version"))
        .where(TrackVersion.state == PUBLISHED)
        .group_by(TrackVersion.track_id)
        .subquery()
    )
    rows = await session.execute(
        select(Track.code, TrackVersion.version, Lesson)
        .join(TrackVersion, TrackVersion.track_id == Track.id)
        .join(
            newest,
            (newest.c.track_id == TrackVersion.track_id)
            & (newest.c.version == TrackVersion.version),
        )
        .join(Lesson, Lesson.track_version_id == TrackVersion.id)
        .where(Track.audience == "staff")
        .order_by(Track.code, Lesson.position)
        .options(selectinload(Lesson.translations))
    )
    found = []
    for code, version, lesson in rows.all():
        questions = {
            t.language: Question(t.quiz_question, tuple(t.quiz_options or ()))
            for t in lesson.translations
            if t.quiz_question is not None
        }
        found.append(
            StaffLesson(
                track=code,
                version=version,
                key=lesson.key,
                titles={t.language: t.title for t in lesson.translations},
                answer=lesson.quiz_answer if questions else None,
                questions=questions,
            )
        )
    return found


def quiz_of(lessons: list[StaffLesson]) -> list[StaffLesson]:
    return [lesson for lesson in lessons if lesson.answer is not None]
