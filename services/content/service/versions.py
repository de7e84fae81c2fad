"""Tracks and their versions: list, read, start a draft, publish.

Publishing marks the draft published and writes `CurriculumPublished` to the outbox in
the same transaction, so the scheduler hears of every published version exactly when it
exists. The event carries what the scheduler needs (cadence, lessons in track order with
their channel texts), so it never has to call back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.content.models import DRAFT, PUBLISHED, Outbox, Track, TrackVersion
from services.content.schemas import (
    WEEKDAYS,
    Audience,
    TrackDocument,
    TrackOut,
    VersionContent,
    VersionOut,
)
from services.content.service import store
from services.content.service.problems import ContentInvalid
from services.content.service.validation import as_data, validate_document
from shared.access.tokens import Role
from shared.bus import add_to_outbox
from shared.db import Database
from shared.errors import Conflict
from shared.messages import Cadence, CurriculumPublished, LessonText, PublishedLesson

EDITORS = (Role.ADMIN, Role.CONTENT_EDITOR)  # who may read a staff quiz's answers


async def list_tracks(db: Database) -> list[TrackOut]:
    async with db.sessions() as session:
        tracks = (await session.execute(select(Track).order_by(Track.code))).scalars().all()
        return [await _track_out(session, track) for track in tracks]


async def get_track(db: Database, code: str) -> TrackOut:
    async with db.sessions() as session:
        return await _track_out(session, await store.find_track(session, code))


async def _track_out(session: AsyncSession, track: Track) -> TrackOut:
    rows = await store.versions_of(session, track)
    published = next((row.version for row in rows if row.state == PUBLISHED), None)
    draft = next((row.version for row in rows if row.state == DRAFT), None)
    return TrackOut(
        code=track.code,
        audience=cast("Audience", track.audience),
        titles=dict(rows[0].titles) if rows else {},
        published_version=published,
        draft_version=draft,
        versions=len(rows),
    )


async def list_versions(db: Database, code: str) -> list[VersionOut]:
    async with db.sessions() as session:
        track = await store.find_track(session, code)
        return await store.describe(session, track, await store.versions_of(session, track))


async def get_version(db: Database, code: str, version: int) -> VersionContent:
    async with db.sessions() as session:
        track = await store.find_track(session, code)
        row = await store.find_version(session, track, version)
        (described,) = await store.describe(session, track, [row])
        return VersionContent(
            version=described, content=await store.load_document(session, track, row)
        )


def for_reader(content: VersionContent, role: Role) -> VersionContent:
    """A staff track's quiz answers are the key to the provider knowledge quiz (issue 22:
    its questions are the staff lessons'): only those who write the curriculum read them;
    the staff it assesses read the lessons without. Patient tracks are shown whole."""
    if content.content.track.audience != "staff" or role in EDITORS:
        return content
    modules = [
        msgspec.structs.replace(
            module,
            lessons=[msgspec.structs.replace(one, quiz_answer=None) for one in module.lessons],
        )
        for module in content.content.modules
    ]
    return msgspec.structs.replace(
        content, content=msgspec.structs.replace(content.content, modules=modules)
    )


async def start_draft(db: Database, code: str) -> VersionOut:
    """A new draft copied from the newest published version; 409 if a draft exists."""
    try:
        async with db.transaction() as session:
            track = await store.find_track(session, code)
            rows = await store.versions_of(session, track)
            draft = next((row for row in rows if row.state == DRAFT), None)
            if draft is not None:
                raise Conflict(
                    f"track {code!r} already has a draft (version {draft.version}); "
                    "edit or publish it"
                )
            published = await store.latest_published(session, track)
            if published is None:  # unreachable: a track starts with a draft
                raise Conflict(f"track {code!r} has nothing published to copy")
            document = await store.load_document(session, track, published)
            row = await store.new_version(session, track, document)
            (described,) = await store.describe(session, track, [row])
    except IntegrityError as exc:  # another editor started one at the same moment
        raise Conflict(f"track {code!r} already has a draft") from exc
    return described


async def publish(db: Database, code: str) -> VersionOut:
    """Validate the whole draft (400 listing every problem), then publish it."""
    async with db.transaction() as session:
        track = await store.find_track(session, code)
        draft = await store.draft_for_update(session, track)
        document = await store.load_document(session, track, draft)
        await publish_draft(session, track, draft, document)
        (described,) = await store.describe(session, track, [draft])
    return described


async def publish_draft(
    session: AsyncSession, track: Track, draft: TrackVersion, document: TrackDocument
) -> None:
    """Publish in the caller's transaction, with its event; refuses incomplete content."""
    known = await store.track_codes(session)
    checked, problems = validate_document(as_data(document), known_tracks=known)
    if checked is None:
        raise ContentInvalid(
            problems, f"track {track.code!r} version {draft.version} not published"
        )
    draft.state = PUBLISHED
    draft.published_at = datetime.now(UTC)
    add_to_outbox(session, Outbox, published_event(checked, draft.version))


def published_event(document: TrackDocument, version: int) -> CurriculumPublished:
    head = document.track
    lessons = [
        PublishedLesson(
            key=lesson.key,
            position=position,
            module=module.code,
            texts={
                language: LessonText(title=t.title, notification=t.notification)
                for language, t in lesson.translations.items()
            },
            has_quiz=lesson.quiz_answer is not None,
        )
        for position, (module, lesson) in enumerate(document.lessons(), start=1)
    ]
    return CurriculumPublished(
        track=head.code,
        version=version,
        titles=dict(head.titles),
        cadence=Cadence(
            lessons_per_week=head.lessons_per_week,
            weekdays=sorted(WEEKDAYS.index(day) + 1 for day in head.weekdays),
            local_time=head.time,
        ),
        next_track=head.next,
        lessons=lessons,
        audience=head.audience,
    )
