"""The reports page's follow-up section over HTTP: per kind of task, how many there were,
how many were contacted, the median and 90th-percentile hours from the first signal to
the first contact, still open and overdue, from the scheduler's report; a clinic with no
task says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from services.scheduler.tasks.models import Task
from services.scheduler.tasks.signals import raise_signal
from shared.db import Database
from tests.integration.consoleutil import World
from tests.integration.test_console import Client, sign_in
from tests.integration.test_console import client as client  # the fixtures
from tests.integration.test_console import world as world


async def _task(db: Database, world: World, key: str, kind: str, hours: float | None) -> None:
    """A task signalled two days ago; contacted `hours` after it, or not at all."""
    patient = next(iter(world.patient_ids.values()))
    signalled = datetime.now(UTC) - timedelta(days=2)
    async with db.transaction() as session:
        task_id = await raise_signal(
            session,
            kind=kind,
            clinic_id=world.yx,
            patient_id=patient,
            signal_key=key,
            signalled_at=signalled,
        )
        if hours is not None:
            contact = signalled + timedelta(hours=hours)
            await session.execute(
                update(Task)
                .where(Task.id == task_id)
                .values(status="done", first_contact_at=contact, closed_at=contact)
            )


async def test_the_reports_page_shows_hours_to_first_contact_per_kind(
    world: World, client: Client, scheduler_db: Database
) -> None:
    await sign_in(client)
    empty = await client.get(f"/clinics/{world.yx}/reports")
    assert empty.status_code == 200, empty.text
    assert "此期间没有随访任务。" in empty.text.split('id="time-to-contact"')[1]
    # Three urgent needs, one at a time (one open task of a kind a patient): 0.5 h, 2 h, open.
    await _task(scheduler_db, world, "need:1", "urgent_need", 0.5)
    await _task(scheduler_db, world, "need:2", "urgent_need", 2.0)
    await _task(scheduler_db, world, "need:3", "urgent_need", None)
    page = await client.get(f"/clinics/{world.yx}/reports")
    section = page.text.split('id="time-to-contact"')[1].split("</section>")[0]
    assert "首次联系用时" in section
    rows = section.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert len(rows) == 1  # kinds without a task in the period are left out
    cells = [c.split("</td>")[0] for c in rows[0].split("<td>")[1:]]
    # Tasks, contacted, median and p90 hours, still open, overdue (1 h to answer, 2 days on).
    assert cells[1:] == ["3", "2", "1.25", "1.85", "1", "1"]
    assert cells[0].strip() == "紧急需求"
