"""What a patient's self-assessment page shows, and what submitting it records.

The link (assessment_links.py) names a time point of the patient's follow-up plan by its
opaque reader, never the patient. The page shows the questionnaire in the patient's
language; submitting it checks the answers as the API does (a wrong one is named) and
records them as the patient's own assessment, marking the time point done. It shows
nothing (410) once the link has expired, or when the patient has been discharged, has opted
out, or is no longer at the clinic that planned it; a time point done (by the patient or by
staff) cannot be answered again (`Done`, 409).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.assessment_definition import Questionnaire
from services.scheduler.assessment_models import AssessmentDue
from services.scheduler.assessments import SELF, questionnaire_for, save
from services.scheduler.models import Patient
from services.scheduler.patients import Scheduler
from services.scheduler.record_links import RecordLink
from services.scheduler.record_page import Gone
from shared.errors import NotFound

__all__ = ["Done", "FormPage", "Gone", "open_form", "submit_form"]


class Done(Exception):
    """The time point was answered already: the form is not taken twice."""


@dataclass(frozen=True)
class FormPage:
    language: str
    form: Questionnaire


async def _due(
    session: AsyncSession, link: RecordLink, *, expired: bool, lock: bool = False
) -> tuple[AssessmentDue, Patient]:
    query = select(AssessmentDue).where(AssessmentDue.reader == link.reader)
    due = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if due is None:
        raise NotFound("no such questionnaire")
    patient = await session.get(Patient, due.patient_id)
    if patient is None:
        raise NotFound("no such questionnaire")
    withdrawn = (
        patient.state == "discharged"
        or patient.opted_out_at is not None
        or patient.clinic_id != due.clinic_id
    )
    if expired or withdrawn:
        raise Gone()
    if due.assessment_id is not None:
        raise Done()
    return due, patient


async def open_form(ctx: Scheduler, link: RecordLink, *, expired: bool) -> FormPage:
    """The form for a verified link; NotFound (never ours), Gone, or Done."""
    async with ctx.db.sessions() as session:
        due, patient = await _due(session, link, expired=expired)
        form = await questionnaire_for(session, patient.clinic_id, due.instrument_code)
    return FormPage(language=link.language, form=form)


async def submit_form(
    ctx: Scheduler, link: RecordLink, answers: Mapping[str, str | None], *, expired: bool
) -> FormPage:
    """Record the patient's answers; InvalidInput naming each wrong one (nothing recorded),
    NotFound, Gone or Done as `open_form`."""
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        # Locked: two submissions at once record one assessment, the other is Done.
        due, patient = await _due(session, link, expired=expired, lock=True)
        form = await questionnaire_for(session, patient.clinic_id, due.instrument_code)
        given = form.check(answers)
        await save(session, patient, form, given, due, by=(SELF, "link"), at=now, now=now)
    return FormPage(language=link.language, form=form)
