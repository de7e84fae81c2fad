"""Set-up shared by the console's study tests (HTTP and browser): the shipped questionnaires
loaded, the core track published in the content service (its PDFs) and in the scheduler's
read model (what a handout is checked against), YX-001 in the routine-care arm (the
legacy "control" label: lessons on paper), and a follow-up plan: YX-001's treatment
motivation overdue since yesterday and due again in three months, YX-002's due today."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import update

from services.content.service.importer import import_files
from services.scheduler.assessment_cli import read_questionnaires
from services.scheduler.assessment_plan import ScheduleIn, TimePointIn, set_schedule
from services.scheduler.assessments import store_questionnaire
from services.scheduler.models import Patient
from services.scheduler.readmodel import store_curriculum
from services.scheduler.timeplan import local_today
from shared.db import Database
from shared.messages import Cadence, CurriculumPublished, LessonText, PublishedLesson
from tests.integration.consoleutil import World
from tests.integration.schedutil import ADMIN, context
from tests.unit.test_assessment_definition import SHIPPED
from tests.unit.test_content_samples import CORE, MAINTENANCE, write

MOTIVATION = "treatment-motivation"
LESSONS = {"daily-dose": "每天按时服药", "side-effects": "常见的不适"}


@dataclass(frozen=True)
class Plan:
    today: date
    overdue_id: int  # YX-001's baseline, due yesterday
    later_id: int  # YX-001's month-3
    today_id: int  # YX-002's baseline, due today


async def _publish(content_db: Database, scheduler_db: Database, folder: Path) -> None:
    write(folder, "core.yaml", CORE)
    write(folder, "maintenance.yaml", MAINTENANCE)
    await import_files(
        content_db, [folder / "core.yaml", folder / "maintenance.yaml"], publish=True
    )
    event = CurriculumPublished(
        track="core",
        version=1,
        titles={"zh-CN": "核心课程", "en": "Core course"},
        next_track=None,
        cadence=Cadence(lessons_per_week=3, weekdays=[1, 3, 5], local_time="19:00"),
        lessons=[
            PublishedLesson(
                key=key,
                position=position,
                module="treatment",
                texts={"zh-CN": LessonText(title=title, notification="今天的健康小课")},
            )
            for position, (key, title) in enumerate(LESSONS.items(), start=1)
        ],
    )
    async with scheduler_db.transaction() as session:
        await store_curriculum(event, session)


async def study_setup(
    world: World,
    scheduler_db: Database,
    access_db: Database,
    content_db: Database,
    folder: Path,
) -> Plan:
    found, problems = read_questionnaires([SHIPPED])
    assert problems == []
    for _name, form in found:
        await store_questionnaire(scheduler_db, form, None, "test")
    await _publish(content_db, scheduler_db, folder)
    first, second = world.patient_ids["YX-001"], world.patient_ids["YX-002"]
    async with scheduler_db.transaction() as session:
        await session.execute(
            update(Patient).where(Patient.id == first).values(study_arm="control")
        )
    ctx = context(scheduler_db, access_db)
    today = local_today(world.clock(), "Asia/Shanghai")
    points = [
        TimePointIn(time_point="baseline", due_on=today - timedelta(days=1)),
        TimePointIn(time_point="month-3", due_on=today + timedelta(days=90)),
    ]
    plan = await set_schedule(
        ctx, ADMIN, first, ScheduleIn(instruments=[MOTIVATION], points=points)
    )
    theirs = await set_schedule(
        ctx,
        ADMIN,
        second,
        ScheduleIn(
            instruments=[MOTIVATION], points=[TimePointIn(time_point="baseline", due_on=today)]
        ),
    )
    by_point = {row.time_point: row.id for row in plan}
    return Plan(today, by_point["baseline"], by_point["month-3"], theirs[0].id)


def answers(value: str = "4", **changes: str) -> dict[str, str]:
    """An answer to each of the treatment-motivation questionnaire's 19 questions."""
    counts = {"pr": 5, "dh": 5, "tr": 5, "ep": 4}
    keys = [f"{part}-{i}" for part, count in counts.items() for i in range(1, count + 1)]
    return {**{f"q.{key}": value for key in keys}, **{f"q.{k}": v for k, v in changes.items()}}
