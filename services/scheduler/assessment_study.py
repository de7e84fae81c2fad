"""A study's follow-up schedule as a patient's assessment plan (issue 21 parts 1 and 2).

The study (services.scheduler.studies) says its time points in months (baseline 0, month-3
3, ...); its participant's baseline day anchors them. Staff name the questionnaires to ask
at each time point; the plan is attached through assessment_plan.attach_schedule with the
study's id, so the due list and the reminders follow it like any plan. A participant lost
to follow-up gets no plan (their time points would only be reminders to nobody).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from sqlalchemy import select

from services.scheduler.assessment_plan import (
    Code,
    DueOut,
    attach_schedule,
    follow_up_points,
    patient_rows,
)
from services.scheduler.patients import Scheduler, load_patient
from services.scheduler.studies.definition import decode_study
from services.scheduler.studies.models import Study, StudyParticipant
from shared.access.tokens import Principal
from shared.errors import Conflict, NotFound


class StudyPlanIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    instruments: Annotated[list[Code], msgspec.Meta(min_length=1, max_length=20)]


async def plan_from_study(
    ctx: Scheduler, principal: Principal, patient_id: int, study_id: int, data: StudyPlanIn
) -> list[DueOut]:
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        patient = await load_patient(session, principal, patient_id, lock=True)
        found = (
            await session.execute(
                select(Study, StudyParticipant)
                .join(StudyParticipant, StudyParticipant.study_id == Study.id)
                .where(Study.id == study_id, StudyParticipant.patient_id == patient.id)
            )
        ).first()
        if found is None:
            raise NotFound(f"the patient is not in study {study_id}")
        study, participant = found
        if participant.baseline_on is None:
            raise Conflict("no baseline recorded: the study's time points count from it")
        if participant.lost_on is not None:
            raise Conflict("the participant is lost to follow-up")
        offsets = [(point.key, point.months) for point in decode_study(study.definition).follow_up]
        await attach_schedule(
            session,
            patient,
            data.instruments,
            follow_up_points(participant.baseline_on, offsets),
            study_id=study.id,
            created_by=principal.token_id,
            now=now,
        )
        return await patient_rows(session, patient, now)
