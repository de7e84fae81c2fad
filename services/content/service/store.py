"""Reading and writing one track version's content, inside the caller's transaction.

A version's content goes in and out whole, as a `TrackDocument`: a draft edit loads the
document, changes it, validates it and writes it back. Drafts are small (tens of lessons),
so rewriting their rows keeps one code path for import, API edits and copies.
Nothing here writes to a published version: callers go through `draft_for_update`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.content.models import (
    DRAFT,
    PUBLISHED,
    Lesson,
    LessonTranslation,
    Module,
    Track,
    TrackVersion,
)
from services.content.schemas import (
    Audience,
    LessonDoc,
    ModuleDoc,
    Quiz,
    TrackDocument,
    TrackHead,
    Translation,
    VersionOut,
)
from shared.errors import Conflict, NotFound


def no_draft(code: str) -> Conflict:
    return Conflict(
        f"track {code!r} has no draft, and published versions never change; "
        f"POST /api/v1/tracks/{code}/draft to edit"
    )


async def find_track(session: AsyncSession, code: str) -> Track:
    track = (await session.execute(select(Track).where(Track.code == code))).scalar_one_or_none()
    if track is None:
        raise NotFound(f"no track {code!r}")
    return track


async def track_codes(session: AsyncSession) -> dict[str, str]:
    """Every track's code with its audience (what `next` may name, and what a new version
    of a track must keep)."""
    rows = await session.execute(select(Track.code, Track.audience))
    return {code: audience for code, audience in rows}


async def versions_of(session: AsyncSession, track: Track) -> list[TrackVersion]:
    query = (
        select(TrackVersion)
        .where(TrackVersion.track_id == track.id)
        .order_by(TrackVersion.version.desc())
    )
    return list((await session.execute(query)).scalars())


async def find_version(session: AsyncSession, track: Track, version: int) -> TrackVersion:
    row = (
        await session.execute(
            select(TrackVersion).where(
                TrackVersion.track_id == track.id, TrackVersion.version == version
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"track {track.code!r} has no version {version}")
    return row


async def draft_for_update(session: AsyncSession, track: Track) -> TrackVersion:
    """The track's draft, locked for this transaction; 409 when there is none."""
    row = (
        await session.execute(
            select(TrackVersion)
            .where(TrackVersion.track_id == track.id, TrackVersion.state == DRAFT)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        raise no_draft(track.code)
    return row


async def latest_published(session: AsyncSession, track: Track) -> TrackVersion | None:
    return (
        await session.execute(
            select(TrackVersion)
            .where(TrackVersion.track_id == track.id, TrackVersion.state == PUBLISHED)
            .order_by(TrackVersion.version.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def next_version_number(session: AsyncSession, track: Track) -> int:
    current = await session.scalar(
        select(func.max(TrackVersion.version)).where(TrackVersion.track_id == track.id)
    )
    return int(current or 0) + 1


async def load_document(session: AsyncSession, track: Track, row: TrackVersion) -> TrackDocument:
    modules = (
        await session.execute(
            select(Module)
            .where(Module.track_version_id == row.id)
            .order_by(Module.position)
            .options(selectinload(Module.lessons).selectinload(Lesson.translations))
            .execution_options(populate_existing=True)
        )
    ).scalars()
    return TrackDocument(
        track=TrackHead(
            code=track.code,
            titles=dict(row.titles),
            lessons_per_week=row.lessons_per_week,
            weekdays=list(row.weekdays),
            time=row.local_time,
            next=row.next_track,
            audience=cast("Audience", track.audience),  # checked on the way in
        ),
        modules=[
            ModuleDoc(
                code=module.code,
                titles=dict(module.titles),
                lessons=[_lesson_doc(lesson) for lesson in module.lessons],
            )
            for module in modules
        ],
    )


def _lesson_doc(lesson: Lesson) -> LessonDoc:
    translations = {}
    for t in lesson.translations:
        quiz = None
        if t.quiz_question is not None:
            quiz = Quiz(question=t.quiz_question, options=list(t.quiz_options or []))
        translations[t.language] = Translation(
            title=t.title, notification=t.notification, body=t.body, quiz=quiz
        )
    return LessonDoc(
        key=lesson.key,
        tags=list(lesson.tags),
        quiz_answer=lesson.quiz_answer,
        translations=translations,
    )


async def new_version(session: AsyncSession, track: Track, document: TrackDocument) -> TrackVersion:
    """A new draft numbered after every existing version, holding `document`."""
    row = TrackVersion(
        track_id=track.id,
        version=await next_version_number(session, track),
        state=DRAFT,
        created_at=datetime.now(UTC),
        published_at=None,
        **_head_columns(document.track),
    )
    session.add(row)
    await session.flush()
    await write_document(session, row, document)
    return row


def _head_columns(head: TrackHead) -> dict[str, object]:
    return {
        "titles": dict(head.titles),
        "lessons_per_week": head.lessons_per_week,
        "weekdays": list(head.weekdays),
        "local_time": head.time,
        "next_track": head.next,
    }


async def write_document(session: AsyncSession, row: TrackVersion, document: TrackDocument) -> None:
    """Replace a draft's content with `document` (validated by the caller)."""
    if row.state != DRAFT:  # the one guard every writer passes through
        raise Conflict("published versions never change")
    for column, value in _head_columns(document.track).items():
        setattr(row, column, value)
    # Lessons and translations go with their modules (ON DELETE CASCADE).
    await session.execute(
        delete(Module)
        .where(Module.track_version_id == row.id)
        .execution_options(synchronize_session=False)
    )
    position = 0
    for module_position, module in enumerate(document.modules, start=1):
        lessons = []
        for lesson in module.lessons:
            position += 1
            lessons.append(
                Lesson(
                    track_version_id=row.id,
                    key=lesson.key,
                    position=position,
                    tags=list(lesson.tags),
                    quiz_answer=lesson.quiz_answer,
                    translations=[
                        LessonTranslation(
                            language=language,
                            title=t.title,
                            notification=t.notification,
                            body=t.body,
                            quiz_question=t.quiz.question if t.quiz else None,
                            quiz_options=list(t.quiz.options) if t.quiz else None,
                        )
                        for language, t in sorted(lesson.translations.items())
                    ],
                )
            )
        session.add(
            Module(
                track_version_id=row.id,
                code=module.code,
                titles=dict(module.titles),
                position=module_position,
                lessons=lessons,
            )
        )
    await session.flush()


async def describe(
    session: AsyncSession, track: Track, rows: list[TrackVersion]
) -> list[VersionOut]:
    """Versions with their module and lesson counts."""
    ids = [row.id for row in rows]
    modules: dict[int, int] = dict(
        (
            await session.execute(
                select(Module.track_version_id, func.count())
                .where(Module.track_version_id.in_(ids))
                .group_by(Module.track_version_id)
            )
        ).all()
    )
    lessons: dict[int, int] = dict(
        (
            await session.execute(
                select(Lesson.track_version_id, func.count())
                .where(Lesson.track_version_id.in_(ids))
                .group_by(Lesson.track_version_id)
            )
        ).all()
    )
    return [
        VersionOut(
            track=track.code,
            version=row.version,
            state=row.state,
            created_at=row.created_at,
            published_at=row.published_at,
            modules=modules.get(row.id, 0),
            lessons=lessons.get(row.id, 0),
        )
        for row in rows
    ]
