"""Curriculum YAML in and out: `mmt content import PATH...` and `export`.

One file per track (the format is in `schemas.TrackDocument` and the README). An import
reads and validates every file first and reports every problem with its file, line and
field; if there is any, nothing is imported. Otherwise all files go in one transaction:
a track whose content equals its newest version is "unchanged" (no new version), an
existing draft is replaced, and otherwise a new draft version is made. With `publish`,
each track's draft is then published (with its `CurriculumPublished` event).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import yaml  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.content.models import DRAFT, Track, TrackVersion
from services.content.schemas import TrackDocument
from services.content.service import store
from services.content.service.problems import ContentInvalid, Problem
from services.content.service.validation import validate_document
from services.content.service.versions import publish_draft
from shared.db import Database
from shared.stigma import StigmaList
from shared.yaml_problems import read_yaml_files


@dataclass(frozen=True)
class ImportOutcome:
    track: str
    version: int
    outcome: str  # "new draft", "draft replaced" or "unchanged"
    published: bool  # the version is published (now, or already before)
    published_now: bool
    file: str

    def __str__(self) -> str:
        if self.outcome == "unchanged" and not self.published_now:
            state = "published" if self.published else "draft"
            return f"{self.track}: unchanged (version {self.version}, {state}) from {self.file}"
        what = "unchanged draft" if self.outcome == "unchanged" else self.outcome
        published = ", published" if self.published_now else ""
        return f"{self.track}: {what} version {self.version}{published} from {self.file}"


def read_documents(
    paths: Sequence[Path],
    known_tracks: Mapping[str, str] | None = None,
    stigma: StigmaList | None = None,
) -> tuple[list[tuple[str, TrackDocument]], list[Problem]]:
    """Validate every file; `next` may name a track in `known_tracks` (code: audience) or in
    the files, for the same audience.

    Without `known_tracks` (no database to ask, as in `mmt content check`), `next` is
    not checked against anything.
    """
    loaded, problems = read_yaml_files(paths)
    # The stored audience wins over a file's: a file that moves a track is refused.
    known = None if known_tracks is None else {**_audiences(loaded), **known_tracks}
    documents: list[tuple[str, TrackDocument]] = []
    seen: dict[str, str] = {}
    for name, data, source in loaded:
        document, found = validate_document(data, source, stigma=stigma, known_tracks=known)
        problems.extend(found)
        if document is None:
            continue
        code = document.track.code
        if code in seen:
            problems.append(
                source.problem(("track", "code"), f"track {code!r} is also in {seen[code]}")
            )
        seen[code] = name
        documents.append((name, document))
    return documents, problems


def _audiences(loaded: list[tuple[str, Any, Any]]) -> dict[str, str]:
    """The files' track codes with the audience each names (validation checks both)."""
    audiences = {}
    for _name, data, _source in loaded:
        track = data.get("track") if isinstance(data, dict) else None
        if isinstance(track, dict) and isinstance(track.get("code"), str):
            audiences[track["code"]] = str(track.get("audience", "patients"))
    return audiences


async def import_files(
    db: Database, paths: Sequence[Path], *, publish: bool = False
) -> list[ImportOutcome]:
    """Import every file or nothing; raises `ContentInvalid` listing every problem."""
    async with db.transaction() as session:
        known = await store.track_codes(session)
        documents, problems = read_documents(paths, known)
        if problems:
            raise ContentInvalid(problems, "nothing imported")
        stored: list[tuple[str, Track, TrackVersion, str, TrackDocument]] = []
        for name, document in documents:  # every track exists before any is published
            track = await _track(session, document)
            rows = await store.versions_of(session, track)
            newest = rows[0] if rows else None
            current = await store.load_document(session, track, newest) if newest else None
            if newest is not None and current == document:
                outcome, row = "unchanged", newest
            elif newest is not None and newest.state == DRAFT:
                row = await store.draft_for_update(session, track)  # an editor may be at it
                await store.write_document(session, row, document)
                outcome = "draft replaced"
            else:
                outcome, row = "new draft", await store.new_version(session, track, document)
            stored.append((name, track, row, outcome, document))
        outcomes = []
        for name, track, row, outcome, document in stored:
            now = publish and row.state == DRAFT
            if now:
                await publish_draft(session, track, row, document)
            outcomes.append(
                ImportOutcome(track.code, row.version, outcome, row.state != DRAFT, now, name)
            )
    return outcomes


async def _track(session: AsyncSession, document: TrackDocument) -> Track:
    code = document.track.code
    track = (await session.execute(select(Track).where(Track.code == code))).scalar_one_or_none()
    if track is None:
        track = Track(code=code, audience=document.track.audience, created_at=datetime.now(UTC))
        session.add(track)
        await session.flush()
    return track


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """Reads like the hand-written files: indented lists, short lists on one line, and
    multi-line text (lesson bodies) as blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def _text(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> Any:
    short = all(isinstance(item, str) and "\n" not in item for item in value)
    flow = short and sum(len(item) + 2 for item in value) <= 60
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(list, _list)


def _without_empty_optionals(value: Any) -> Any:
    """Leave out what a hand-written file would: `next: null`, `quiz: null`, `tags: []`."""
    if isinstance(value, dict):
        return {
            key: _without_empty_optionals(item)
            for key, item in value.items()
            if item is not None and not (key == "tags" and item == [])
        }
    if isinstance(value, list):
        return [_without_empty_optionals(item) for item in value]
    return value


def to_yaml(document: TrackDocument) -> str:
    """The document in the import format; importing it gives back the same content."""
    return str(
        yaml.dump(
            _without_empty_optionals(msgspec.to_builtins(document)),
            Dumper=_Dumper,
            allow_unicode=True,
            sort_keys=False,
            width=100,
        )
    )


async def export_version(
    db: Database, code: str, version: int | None = None
) -> tuple[TrackVersion, str]:
    """A version as YAML: the one asked for, else the newest (draft or published)."""
    async with db.sessions() as session:
        track = await store.find_track(session, code)
        if version is None:
            row = (await store.versions_of(session, track))[0]
        else:
            row = await store.find_version(session, track, version)
        return row, to_yaml(await store.load_document(session, track, row))
