"""Study routes: thin handlers over services.scheduler.studies.*.

Studies are defined, closed and their clinics randomised by admins; coordinators enrol,
randomise and follow their own clinics' patients (another clinic's patient is a 404);
researchers may read the definitions. A patient's routes sit under the patient, so the
audit log names the patient. No route returns a stratum's block state.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from services.scheduler.api import CARE, DEPENDENCIES
from services.scheduler.patients import Scheduler
from services.scheduler.schemas import Consent
from services.scheduler.studies import clusters, participants, randomise, service
from services.scheduler.studies.schemas import (
    AllocationOut,
    ArmChangeIn,
    BaselineIn,
    ClinicArmOut,
    ClusterIn,
    LostIn,
    ParticipantIn,
    ParticipantOut,
    StudyIn,
    StudyOut,
)
from shared.access.tokens import Role
from shared.access.web import policy, principal_of
from shared.params import RowId

Req = Request[Any, Any, Any]
ADMIN = Role.ADMIN
READERS = (*CARE, Role.RESEARCHER)


class StudyController(Controller):
    path = "/studies"
    tags = ["studies"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        opt=policy(ADMIN, resource="study"),
        summary="Define a study (refused naming each wrong field); the same again is a no-op",
    )
    async def define(
        self, ctx: NamedDependency[Scheduler], request: Req, data: JSONBody[StudyIn]
    ) -> StudyOut:
        by = principal_of(request).token_id
        return await service.define_study(ctx.db, data.definition, by)

    @get("/", opt=policy(*READERS, resource="study"), summary="Every study")
    async def list_studies(self, ctx: NamedDependency[Scheduler]) -> list[StudyOut]:
        return await service.list_studies(ctx.db)

    @get("/{study_id:int}", opt=policy(*READERS, resource="study"))
    async def get_study(self, ctx: NamedDependency[Scheduler], study_id: RowId) -> StudyOut:
        return await service.get_study(ctx.db, study_id)

    @post(
        "/{study_id:int}/close",
        opt=policy(ADMIN, resource="study"),
        status_code=200,
        summary="No more enrolment or randomisation; follow-up and the arms' policies go on",
    )
    async def close(self, ctx: NamedDependency[Scheduler], study_id: RowId) -> StudyOut:
        return await service.close_study(ctx.db, study_id)

    @post(
        "/{study_id:int}/clinics",
        opt=policy(ADMIN, resource="study"),
        summary="Randomise the clinics of a study randomised by clinic, once, balanced",
    )
    async def allocate_clinics(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        study_id: RowId,
        data: JSONBody[ClusterIn],
    ) -> list[ClinicArmOut]:
        return await clusters.allocate_clinics(ctx, principal_of(request), study_id, data)

    @get("/{study_id:int}/clinics", opt=policy(*READERS, resource="study"), summary="Clinics' arms")
    async def clinic_arms(
        self, ctx: NamedDependency[Scheduler], study_id: RowId
    ) -> list[ClinicArmOut]:
        return await clusters.clinic_arms(ctx, study_id)

    @get(
        "/{study_id:int}/participants",
        opt=policy(*CARE, resource="study"),
        summary="The study's participants in the caller's clinics",
    )
    async def participants(
        self, ctx: NamedDependency[Scheduler], request: Req, study_id: RowId
    ) -> list[ParticipantOut]:
        return await participants.of_study(ctx, principal_of(request), study_id)

    @get(
        "/{study_id:int}/allocations",
        opt=policy(ADMIN, resource="study"),
        summary="The append-only allocation log: every allocation and change, with reasons",
    )
    async def allocations(
        self, ctx: NamedDependency[Scheduler], study_id: RowId
    ) -> list[AllocationOut]:
        return await service.allocation_log(ctx.db, study_id)


class PatientStudyController(Controller):
    path = "/patients/{patient_id:int}/studies"
    tags = ["studies"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        opt=policy(*CARE, resource="patient"),
        summary="Enrol the patient into a study (consent and baseline now or later)",
    )
    async def enrol(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        data: JSONBody[ParticipantIn],
    ) -> ParticipantOut:
        return await participants.enrol(ctx, principal_of(request), patient_id, data)

    @get("/", opt=policy(*CARE, resource="patient"), summary="The studies the patient is in")
    async def studies(
        self, ctx: NamedDependency[Scheduler], request: Req, patient_id: RowId
    ) -> list[ParticipantOut]:
        return await participants.of_patient(ctx, principal_of(request), patient_id)

    @post(
        "/{study_id:int}/consent",
        opt=policy(*CARE, resource="patient"),
        status_code=200,
        summary="Record the study consent the patient signed (the study's version)",
    )
    async def consent(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        study_id: RowId,
        data: JSONBody[Consent],
    ) -> ParticipantOut:
        return await participants.record_consent(
            ctx, principal_of(request), patient_id, study_id, data
        )

    @post(
        "/{study_id:int}/baseline",
        opt=policy(*CARE, resource="patient"),
        status_code=200,
        summary="Record the baseline date (before randomisation)",
    )
    async def baseline(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        study_id: RowId,
        data: JSONBody[BaselineIn],
    ) -> ParticipantOut:
        return await participants.record_baseline(
            ctx, principal_of(request), patient_id, study_id, data
        )

    @post(
        "/{study_id:int}/randomise",
        opt=policy(*CARE, resource="patient"),
        status_code=200,
        summary="Randomise the patient, once, after consent and baseline (concealed)",
    )
    async def randomise(
        self, ctx: NamedDependency[Scheduler], request: Req, patient_id: RowId, study_id: RowId
    ) -> ParticipantOut:
        return await randomise.randomise(ctx, principal_of(request), patient_id, study_id)

    @post(
        "/{study_id:int}/arm",
        opt=policy(ADMIN, resource="patient"),
        status_code=200,
        summary="Change a randomised patient's arm, with a reason for the allocation log",
    )
    async def change_arm(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        study_id: RowId,
        data: JSONBody[ArmChangeIn],
    ) -> ParticipantOut:
        return await randomise.change_arm(ctx, principal_of(request), patient_id, study_id, data)

    @post(
        "/{study_id:int}/lost",
        opt=policy(*CARE, resource="patient"),
        status_code=200,
        summary="Lost to follow-up: the reason and the date",
    )
    async def lost(
        self,
        ctx: NamedDependency[Scheduler],
        request: Req,
        patient_id: RowId,
        study_id: RowId,
        data: JSONBody[LostIn],
    ) -> ParticipantOut:
        return await participants.record_lost(
            ctx, principal_of(request), patient_id, study_id, data
        )
