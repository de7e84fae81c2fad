"""What a coordinator's patient page shows from the scheduler, in one answer: the record,
a month of the adherence calendar, the timeline, the patient's alerts with their
follow-up notes, their questionnaires and printed handouts (patient_page_studies.py), their
MI sessions with the target's status, and the follow-up tasks about them.

The console's patient page used to ask for these in four calls; each call costs more in
the HTTP client, the middleware and its audit entry than the query it wraps (1-3 ms), so
a page spent most of its CPU on the round trips (docs/benchmarks.md, the console). The
separate routes stay: this one only saves the trips, and is audited as one read of the
patient."""

from __future__ import annotations

import asyncio

import msgspec
from sqlalchemy import select

from services.scheduler import monthly, patients, reports
from services.scheduler.mi import sessions as mi_sessions
from services.scheduler.mi.schemas import PatientMiOut
from services.scheduler.patient_page_studies import StudyPart, present, study_part
from services.scheduler.patients import Scheduler, load_patient
from services.scheduler.schemas import PatientOut
from services.scheduler.tasks.models import Task
from services.scheduler.tasks.schemas import TaskOut
from services.scheduler.tasks.service import task_out
from services.scheduler.timeplan import local_today
from shared.access.tokens import Principal

TASKS = 200  # a patient's tasks on the page (each signal joins an open task of its kind)


class PatientPage(msgspec.Struct, kw_only=True):
    patient: PatientOut
    calendar: monthly.MonthCalendar
    timeline: list[reports.TimelineEntry]
    alerts: list[reports.AlertOut]
    study: StudyPart  # questionnaires and printed handouts (patient_page_studies.py)
    mi: PatientMiOut  # MI sessions and where the patient stands on the target
    tasks: list[TaskOut]  # follow-up tasks about the patient, oldest first


async def _follow_up(
    ctx: Scheduler, principal: Principal, patient_id: int
) -> tuple[StudyPart, PatientMiOut, list[TaskOut]]:
    """Questionnaires, handouts, MI sessions and tasks: a dozen small reads, in one
    session (a session each cost more CPU than their queries: docs/benchmarks.md)."""
    now = ctx.clock()
    async with ctx.db.sessions() as session:
        patient = await load_patient(session, principal, patient_id)
        has = await present(session, patient)
        study = await study_part(session, patient, now, has)
        mi = await mi_sessions.sessions_of(session, patient, local_today(now, patient.time_zone))
        if not has.tasks:
            return study, mi, []
        tasks = (
            await session.execute(
                select(Task).where(Task.patient_id == patient.id).order_by(Task.id).limit(TASKS)
            )
        ).scalars()
        return study, mi, [task_out(task, now) for task in tasks]


async def patient_page(
    ctx: Scheduler, principal: Principal, patient_id: int, month: str | None, limit: int
) -> PatientPage:
    patient = await patients.get(ctx, principal, patient_id)  # 404 before anything else
    calendar, timeline, alerts, (study, mi, tasks) = await asyncio.gather(
        monthly.month_calendar(ctx, principal, patient_id, month),
        reports.timeline(ctx, principal, patient_id, limit),
        reports.list_alerts(ctx, principal, None, None, patient_id),
        _follow_up(ctx, principal, patient_id),
    )
    return PatientPage(
        patient=patient,
        calendar=calendar,
        timeline=timeline,
        alerts=alerts,
        study=study,
        mi=mi,
        tasks=tasks,
    )
