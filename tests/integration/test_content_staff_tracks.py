"""Staff training tracks: the shipped one imports and publishes as `staff`, a track keeps its
audience, `next` stays within one audience, and the scheduler never plans a staff track."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.content.models import Track
from services.content.service import versions
from services.content.service.importer import import_files
from services.content.service.problems import ContentInvalid
from services.scheduler.models import TrackVersion as PlannedTrack
from services.scheduler.readmodel import store_curriculum
from shared.db import Database
from shared.messages import CurriculumPublished
from tests.integration.test_content_curriculum import outbox
from tests.unit.test_content_samples import CORE, MAINTENANCE, write

REPO = Path(__file__).resolve().parents[2]
STAFF = REPO / "curriculum" / "staff.yaml"


async def test_the_shipped_staff_track_publishes_for_staff_and_the_scheduler_skips_it(
    content_db: Database, scheduler_db: Database
) -> None:
    (outcome,) = await import_files(content_db, [STAFF], publish=True)
    assert outcome.published_now
    (track,) = await versions.list_tracks(content_db)
    assert (track.code, track.audience, track.published_version) == ("staff-training", "staff", 1)
    (event,) = await outbox(content_db)
    assert isinstance(event, CurriculumPublished)
    assert (event.track, event.audience, len(event.lessons)) == ("staff-training", "staff", 8)

    async with scheduler_db.transaction() as session:
        await store_curriculum(event, session)
        patients_copy = CurriculumPublished(
            track="core",
            version=1,
            titles=event.titles,
            cadence=event.cadence,
            next_track=None,
            lessons=event.lessons,
        )  # the same event for patients is kept: the skip is the audience, nothing else
        await store_curriculum(patients_copy, session)
    async with scheduler_db.sessions() as session:
        kept = (await session.execute(select(PlannedTrack.track))).scalars().all()
    assert kept == ["core"]


async def test_a_track_keeps_its_audience_and_next_stays_within_one(
    content_db: Database, tmp_path: Path
) -> None:
    write(tmp_path, "core.yaml", CORE)
    write(tmp_path, "maintenance.yaml", MAINTENANCE)
    await import_files(content_db, [tmp_path / "core.yaml", tmp_path / "maintenance.yaml"])

    # The same file moved to staff: refused, naming the field; nothing imported.
    moved = tmp_path / "moved"
    moved.mkdir()
    write(
        moved, "maintenance.yaml", MAINTENANCE.replace("  time:", "  audience: staff\n  time:", 1)
    )
    with pytest.raises(ContentInvalid) as refused:
        await import_files(content_db, [moved / "maintenance.yaml"])
    (problem,) = refused.value.problems
    assert problem.field == "track.audience"
    assert "keeps the audience it was created with" in problem.message

    # A staff track may not hand its readers on to a patients' track.
    write(
        moved,
        "staff.yaml",
        STAFF.read_text(encoding="utf-8").replace(
            '  time: "13:00"', '  time: "13:00"\n  next: maintenance'
        ),
    )
    with pytest.raises(ContentInvalid) as crossed:
        await import_files(content_db, [moved / "staff.yaml"])
    (problem,) = crossed.value.problems
    assert problem.field == "track.next"
    assert "is for patients, this one for staff" in problem.message
    async with content_db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Track)) == 2
