"""What a coordinator's patient page shows from the scheduler, in one answer: the record,
a month of the adherence calendar, the timeline, the patient's alerts with their
follow-up notes, and their questionnaires and printed handouts (patient_page_studies.py).

The console's patient page used to ask for these in four calls; each call costs more in
the HTTP client, the middleware and its audit entry than the query it wraps (1-3 ms), so
a page spent most of its CPU on the round trips (docs/benchmarks.md, the console). The
separate routes stay: this one only saves the trips, and is audited as one read of the
patient."""

from __future__ import annotations

import asyncio

import msgspec

from services.scheduler import monthly, patients, reports
from services.scheduler.patient_page_studies import StudyPart, study_part
from services.scheduler.patients import Scheduler
from services.scheduler.schemas import PatientOut
from shared.access.tokens import Principal


class PatientPage(msgspec.Struct, kw_only=True):
    patient: PatientOut
    calendar: monthly.MonthCalendar
    timeline: list[reports.TimelineEntry]
    alerts: list[reports.AlertOut]
    study: StudyPart  # questionnaires and printed handouts (patient_page_studies.py)


async def patient_page(
    ctx: Scheduler, principal: Principal, patient_id: int, month: str | None, limit: int
) -> PatientPage:
    patient = await patients.get(ctx, principal, patient_id)  # 404 before anything else
    calendar, timeline, alerts, study = await asyncio.gather(
        monthly.month_calendar(ctx, principal, patient_id, month),
        reports.timeline(ctx, principal, patient_id, limit),
        reports.list_alerts(ctx, principal, None, None, patient_id),
        study_part(ctx, principal, patient_id),
    )
    return PatientPage(
        patient=patient, calendar=calendar, timeline=timeline, alerts=alerts, study=study
    )
