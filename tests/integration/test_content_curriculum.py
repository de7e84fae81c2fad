"""The curriculum on real PostgreSQL: import, versions, publishing and its event, the CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from mmt import app as mmt
from services.content.models import Outbox, Track, TrackVersion
from services.content.service import versions
from services.content.service.importer import export_version, import_files
from services.content.service.problems import ContentInvalid
from shared.bus import decode
from shared.db import Database
from shared.errors import Conflict
from shared.messages import Cadence, CurriculumPublished, LessonText, Message
from tests.conftest import Backends
from tests.unit.test_content_samples import CORE, MAINTENANCE, write
from tests.unit.test_content_validation import line_of


@pytest.fixture
def files(tmp_path: Path) -> Path:
    write(tmp_path, "core.yaml", CORE)
    write(tmp_path, "maintenance.yaml", MAINTENANCE)
    return tmp_path


async def outbox(db: Database) -> list[Message]:
    async with db.sessions() as session:
        rows = (await session.execute(select(Outbox).order_by(Outbox.seq))).scalars().all()
    return [decode({"m": row.payload}) for row in rows]


async def count(db: Database, model: type[Track] | type[TrackVersion]) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_import_and_publish_writes_one_event_carrying_the_track(
    content_db: Database, files: Path
) -> None:
    outcomes = await import_files(content_db, [files / "core.yaml", files / "maintenance.yaml"])
    assert [str(o).split(" from ")[0] for o in outcomes] == [
        "core: new draft version 1",
        "maintenance: new draft version 1",
    ]
    assert await outbox(content_db) == []  # drafts are not announced

    published = await versions.publish(content_db, "core")
    assert (published.version, published.state, published.lessons) == (1, "published", 3)
    (event,) = await outbox(content_db)
    assert isinstance(event, CurriculumPublished)
    assert (event.track, event.version, event.next_track) == ("core", 1, "maintenance")
    assert event.titles == {"zh-CN": "核心课程", "en": "Core course"}
    assert event.cadence == Cadence(lessons_per_week=3, weekdays=[1, 3, 5], local_time="19:00")
    assert [(x.position, x.key, x.module, x.has_quiz) for x in event.lessons] == [
        (1, "daily-dose", "treatment", True),
        (2, "side-effects", "treatment", False),
        (3, "sleep-well", "self-care", False),
    ]
    assert event.lessons[0].texts == {
        "zh-CN": LessonText(
            title="每天按时服药", notification="今天的健康小课已准备好，点开看看。"
        ),
        "en": LessonText(
            title="Every day, on time", notification="Your health lesson for today is ready."
        ),
    }
    assert set(event.lessons[2].texts) == {"zh-CN"}


async def test_published_versions_never_change_and_a_new_draft_copies(
    content_db: Database, files: Path
) -> None:
    await import_files(content_db, [files], publish=True)
    assert len(await outbox(content_db)) == 2

    # Nothing to edit: the edit path says how to start a draft.
    with pytest.raises(Conflict, match=r"published versions never change; POST .*/core/draft"):
        await versions.publish(content_db, "core")

    draft = await versions.start_draft(content_db, "core")
    assert (draft.version, draft.state, draft.lessons, draft.modules) == (2, "draft", 3, 2)
    with pytest.raises(Conflict, match="already has a draft"):
        await versions.start_draft(content_db, "core")
    one = await versions.get_version(content_db, "core", 1)
    two = await versions.get_version(content_db, "core", 2)
    assert one.content == two.content
    assert one.version.published_at is not None
    assert two.version.published_at is None

    # Changing the files makes the draft follow them; version 1 keeps what it had.
    write(files, "core.yaml", CORE.replace("睡个好觉", "早点睡"))
    (changed, unchanged) = await import_files(content_db, [files])
    assert str(changed).startswith("core: draft replaced version 2")
    assert str(unchanged).startswith("maintenance: unchanged (version 1, published)")
    one_again = await versions.get_version(content_db, "core", 1)
    assert one_again.content == one.content
    two = await versions.get_version(content_db, "core", 2)
    assert two.content.modules[1].lessons[0].translations["zh-CN"].title == "早点睡"


async def test_importing_identical_content_makes_no_new_version(
    content_db: Database, files: Path
) -> None:
    await import_files(content_db, [files])
    publishing = await import_files(content_db, [files], publish=True)
    assert [str(o).split(" from ")[0] for o in publishing] == [
        "core: unchanged draft version 1, published",
        "maintenance: unchanged draft version 1, published",
    ]
    again = await import_files(content_db, [files], publish=True)
    assert [str(o).split(" from ")[0] for o in again] == [
        "core: unchanged (version 1, published)",
        "maintenance: unchanged (version 1, published)",
    ]
    assert await count(content_db, TrackVersion) == 2
    assert len(await outbox(content_db)) == 2  # nothing announced twice

    # The export of a version imports as "unchanged" too: it is the same content.
    _, text = await export_version(content_db, "core", 1)
    write(files, "core.yaml", text)
    (core, _) = await import_files(content_db, [files])
    assert core.outcome == "unchanged"


async def test_an_import_with_one_bad_file_imports_nothing(
    content_db: Database, files: Path
) -> None:
    write(files, "maintenance.yaml", MAINTENANCE.replace("新的一课已准备好。", "戒毒课程"))
    with pytest.raises(ContentInvalid) as refused:
        await import_files(content_db, [files], publish=True)
    (problem,) = refused.value.problems
    assert problem.file == str(files / "maintenance.yaml")
    assert problem.field == "modules[0].lessons[0].translations.zh-CN.notification"
    assert "戒毒" in problem.message
    assert await count(content_db, Track) == 0
    assert await outbox(content_db) == []


async def test_next_may_name_a_track_of_an_earlier_import(
    content_db: Database, files: Path
) -> None:
    with pytest.raises(ContentInvalid, match="no track 'maintenance'"):
        await import_files(content_db, [files / "core.yaml"])
    await import_files(content_db, [files / "maintenance.yaml"])
    (core,) = await import_files(content_db, [files / "core.yaml"], publish=True)
    assert core.published


# --- the command line --------------------------------------------------------------------


@pytest.fixture
def cli_env(database_env: None, content_db: Database) -> None:
    """`mmt content ...` on this test's content schema."""


def test_cli_refuses_bad_files_with_file_and_line_and_imports_good_ones(
    cli_env: None, files: Path, backends: Backends, isolation: str
) -> None:
    runner = CliRunner()
    broken = CORE.replace('time: "19:00"', 'time: "7pm"')
    broken = broken.replace("新的一课：好好休息。", "HIV test")
    write(files, "core.yaml", broken)
    refused = runner.invoke(mmt, ["content", "import", str(files), "--publish"])
    assert refused.exit_code == 1
    lines = refused.output.strip().splitlines()
    assert lines == [
        f"{files}/core.yaml:6: track.time: must be HH:MM (24-hour), not '7pm'",
        f"{files}/core.yaml:{line_of(broken, 'HIV test')}: "
        "modules[1].lessons[0].translations.zh-CN.notification: "
        'contains "HIV", which could out a patient on a lock screen',
        "nothing imported: 2 problems",
    ]

    write(files, "core.yaml", CORE)
    checked = runner.invoke(mmt, ["content", "check", str(files)])
    assert checked.exit_code == 0, checked.output
    assert f"{files}/core.yaml: track 'core', 3 lessons: ok" in checked.output

    imported = runner.invoke(mmt, ["content", "import", str(files), "--publish"])
    assert imported.exit_code == 0, imported.output
    assert f"core: new draft version 1, published from {files}/core.yaml" in imported.output
    again = runner.invoke(mmt, ["content", "import", str(files)])
    assert "core: unchanged (version 1, published)" in again.output

    exported = runner.invoke(mmt, ["content", "export", "core", "--output", str(files / "x.yml")])
    assert exported.exit_code == 0, exported.output
    assert "core: version 1 (published)" in exported.output
    assert "notification: 今天的健康小课已准备好，点开看看。" in (files / "x.yml").read_text()
    missing = runner.invoke(mmt, ["content", "export", "nope"])
    assert missing.exit_code == 1
    assert "no track 'nope'" in missing.output

    async def versions_in_db() -> int:
        db = Database(backends.database_url, "content", schema_prefix=isolation)
        try:
            return await count(db, TrackVersion)
        finally:
            await db.dispose()

    assert asyncio.run(versions_in_db()) == 2
