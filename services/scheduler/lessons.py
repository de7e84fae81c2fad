"""Which lesson a patient gets next: the first of their track, by position, not yet sent.

Progress is kept by lesson key, so a new version of a track (lessons added, reordered,
reworded) keeps every patient's place. At the end of a track a patient moves on to the
track it chains to, if any.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.models import LessonProgress, Patient, TrackVersion
from shared.messages import CurriculumPublished


@dataclass(frozen=True)
class LessonChoice:
    track: str
    version: int
    key: str
    notification: str
    module: str | None = None


async def _latest(session: AsyncSession, track: str) -> CurriculumPublished | None:
    version = (
        await session.execute(
            select(func.max(TrackVersion.version)).where(TrackVersion.track == track)
        )
    ).scalar_one_or_none()
    if version is None:
        return None
    event = (
        await session.execute(
            select(TrackVersion.event).where(
                TrackVersion.track == track, TrackVersion.version == version
            )
        )
    ).scalar_one()
    return msgspec.json.decode(event, type=CurriculumPublished)


async def choose_lesson(session: AsyncSession, patient: Patient) -> LessonChoice | None:
    seen_tracks: set[str] = set()
    track_code = patient.track
    while track_code and track_code not in seen_tracks:
        seen_tracks.add(track_code)
        track = await _latest(session, track_code)
        if track is None:
            return None
        done = set(
            (
                await session.execute(
                    select(LessonProgress.lesson_key).where(
                        LessonProgress.patient_id == patient.id,
                        LessonProgress.track == track_code,
                    )
                )
            ).scalars()
        )
        for lesson in sorted(track.lessons, key=lambda item: item.position):
            if lesson.key in done:
                continue
            text = lesson.texts.get(patient.language) or lesson.texts["zh-CN"]
            if track_code != patient.track:
                patient.track = track_code  # moved on to the chained track
            return LessonChoice(
                track_code, track.version, lesson.key, text.notification, lesson.module
            )
        track_code = track.next_track
    return None
