"""Editing a track's draft: the track itself, its modules and its lessons.

Every edit takes the same path: lock the draft, load it as a document, change the
document, validate it (as a draft: it may still lack modules or lessons) and write it
back, all in one transaction. A refused edit changes nothing. There is no way to edit a
published version: without a draft, an edit is a 409 that says how to start one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

from msgspec import UnsetType
from sqlalchemy.exc import IntegrityError

from services.content.models import Track
from services.content.schemas import (
    LessonDoc,
    LessonIn,
    LessonPatch,
    ModuleDoc,
    ModuleIn,
    ModulePatch,
    TrackDocument,
    TrackHead,
    TrackPatch,
    VersionContent,
)
from services.content.service import store
from services.content.service.problems import ContentInvalid
from services.content.service.validation import as_data, validate_document
from shared.db import Database
from shared.errors import Conflict, InvalidInput, NotFound

Edit = Callable[[TrackDocument], None]
T = TypeVar("T")


def _checked(document: TrackDocument, known: Mapping[str, str], what: str) -> TrackDocument:
    checked, problems = validate_document(as_data(document), complete=False, known_tracks=known)
    if checked is None:
        raise ContentInvalid(problems, what)
    return checked


async def create_track(db: Database, head: TrackHead) -> VersionContent:
    """A new track with an empty draft (version 1) holding its titles and cadence."""
    try:
        async with db.transaction() as session:
            known = await store.track_codes(session)
            if head.code in known:
                raise Conflict(f"a track with code {head.code!r} exists")
            document = _checked(TrackDocument(track=head), known, "track refused")
            track = Track(code=head.code, audience=head.audience, created_at=datetime.now(UTC))
            session.add(track)
            await session.flush()
            row = await store.new_version(session, track, document)
            (described,) = await store.describe(session, track, [row])
    except IntegrityError as exc:
        raise Conflict(f"a track with code {head.code!r} exists") from exc
    return VersionContent(version=described, content=document)


async def edit_draft(db: Database, code: str, edit: Edit, what: str) -> VersionContent:
    """Apply `edit` to the draft's document; all or nothing."""
    async with db.transaction() as session:
        track = await store.find_track(session, code)
        draft = await store.draft_for_update(session, track)
        document = await store.load_document(session, track, draft)
        edit(document)
        document = _checked(document, await store.track_codes(session), what)
        await store.write_document(session, draft, document)
        (described,) = await store.describe(session, track, [draft])
    return VersionContent(version=described, content=document)


# --- the edits: each changes a document in place, or raises -----------------------------


def patch_track(patch: TrackPatch) -> Edit:
    def edit(document: TrackDocument) -> None:
        head = document.track
        for name in ("titles", "lessons_per_week", "weekdays", "time", "next"):
            value = getattr(patch, name)
            if not isinstance(value, UnsetType):
                setattr(head, name, value)

    return edit


def _module(document: TrackDocument, code: str) -> ModuleDoc:
    for module in document.modules:
        if module.code == code:
            return module
    raise NotFound(f"the draft has no module {code!r}")


def _lesson(document: TrackDocument, key: str) -> tuple[ModuleDoc, LessonDoc]:
    for module, lesson in document.lessons():
        if lesson.key == key:
            return module, lesson
    raise NotFound(f"the draft has no lesson {key!r}")


def _insert(items: list[T], item: T, position: int | None) -> None:
    """Insert at a 1-based position (the end when None)."""
    if position is None:
        items.append(item)
        return
    if not 1 <= position <= len(items) + 1:
        raise InvalidInput(f"position must be between 1 and {len(items) + 1}")
    items.insert(position - 1, item)


def add_module(data: ModuleIn) -> Edit:
    def edit(document: TrackDocument) -> None:
        if any(module.code == data.code for module in document.modules):
            raise Conflict(f"the draft already has a module {data.code!r}")
        module = ModuleDoc(code=data.code, titles=data.titles)
        _insert(document.modules, module, data.position)

    return edit


def patch_module(code: str, patch: ModulePatch) -> Edit:
    def edit(document: TrackDocument) -> None:
        module = _module(document, code)
        if not isinstance(patch.titles, UnsetType):
            module.titles = patch.titles
        if not isinstance(patch.position, UnsetType):
            document.modules.remove(module)
            _insert(document.modules, module, patch.position)

    return edit


def delete_module(code: str) -> Edit:
    def edit(document: TrackDocument) -> None:
        module = _module(document, code)
        if module.lessons:
            raise Conflict(
                f"module {code!r} still has {len(module.lessons)} lesson(s): "
                "delete or move them first"
            )
        document.modules.remove(module)

    return edit


def add_lesson(data: LessonIn) -> Edit:
    def edit(document: TrackDocument) -> None:
        if any(lesson.key == data.key for _, lesson in document.lessons()):
            raise Conflict(f"the draft already has a lesson {data.key!r}")
        lesson = LessonDoc(
            key=data.key,
            tags=data.tags,
            quiz_answer=data.quiz_answer,
            translations=data.translations,
        )
        _insert(_module(document, data.module).lessons, lesson, data.position)

    return edit


def patch_lesson(key: str, patch: LessonPatch) -> Edit:
    def edit(document: TrackDocument) -> None:
        module, lesson = _lesson(document, key)
        if not isinstance(patch.tags, UnsetType):
            lesson.tags = patch.tags
        if not isinstance(patch.quiz_answer, UnsetType):
            lesson.quiz_answer = patch.quiz_answer
        if not isinstance(patch.translations, UnsetType):
            for language, translation in patch.translations.items():
                if translation is None:
                    lesson.translations.pop(language, None)
                else:
                    lesson.translations[language] = translation
        target = module if isinstance(patch.module, UnsetType) else _module(document, patch.module)
        position = None if isinstance(patch.position, UnsetType) else patch.position
        if target is not module or position is not None:
            module.lessons.remove(lesson)
            _insert(target.lessons, lesson, position)

    return edit


def delete_lesson(key: str) -> Edit:
    def edit(document: TrackDocument) -> None:
        module, lesson = _lesson(document, key)
        module.lessons.remove(lesson)

    return edit
