"""The follow-up plan: which questionnaires are due for a patient at which time points
(baseline, month-2, ...), on which days; the clinic's list of what is due; a reminder to
the patient, carrying their self-assessment link, on the day.

Staff attach a plan per patient through the API now (time points with their dates). A study
(services.scheduler.studies) attaches its follow-up schedule with `attach_schedule`, its
time points made from its offsets in months by `follow_up_points`. Attaching again moves a
time point not yet done to its new day (and its reminder with it); one done stays.

Each time point due on a day to come is an occurrence of kind `assessment` at 10:00 local
time (moved out of quiet hours), released and sent like any reminder (planner, outbox,
dispatch), in discreet words, with the link (assessment_links.py). A study arm that says
`assessment_reminders: false` gets its reminders planned visibly suppressed with the reason
(the time points stay due, on the staff's list); a change of arm decides again
(`refresh_reminders`).
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.assessment_links import AssessmentLinks
from services.scheduler.assessment_models import AssessmentDue
from services.scheduler.assessments import TIME_POINT, questionnaire_for
from services.scheduler.models import Occurrence, Patient
from services.scheduler.patients import Scheduler, load_patient
from services.scheduler.record_links import RecordLink
from services.scheduler.risk_definition import CODE
from services.scheduler.studies.policy import withheld
from services.scheduler.timeplan import local_today, reminder_time
from shared.access.tokens import Principal
from shared.errors import Conflict, InvalidInput, NotFound, Unavailable

KIND = "assessment"  # the reminder's message kind
REMINDER_AT = time(10, 0)  # local: mid-morning, after most clinics' dosing rush
REMINDER_WINDOW = timedelta(hours=12)
LOOK_AHEAD_DAYS = 7  # the due list's default: what falls due within a week
ARM_REASON = "the patient's study arm receives no assessment reminders"

Code = Annotated[str, msgspec.Meta(pattern=f"^{CODE.pattern}$")]
DueState = Literal["done", "overdue", "due", "upcoming"]


class TimePointIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    time_point: Annotated[str, msgspec.Meta(pattern=TIME_POINT)]
    due_on: date  # the patient's local date


class ScheduleIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    instruments: Annotated[list[Code], msgspec.Meta(min_length=1, max_length=20)]
    points: Annotated[list[TimePointIn], msgspec.Meta(min_length=1, max_length=20)]


class DueOut(msgspec.Struct, kw_only=True):
    id: int
    patient_id: int
    clinic_number: str
    instrument: str
    time_point: str
    due_on: date
    state: DueState  # overdue: its day has passed and it is not done
    overdue: bool
    study_id: int | None
    assessment_id: int | None


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day (31 January + 1 = 28 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def follow_up_points(start: date, offsets: Sequence[tuple[str, int]]) -> list[tuple[str, date]]:
    """A study's follow-up schedule as dated time points: [("baseline", 0), ("month-3", 3)]
    from the day of randomisation."""
    return [(label, add_months(start, months)) for label, months in offsets]


def _state(row: AssessmentDue, today: date) -> DueState:
    if row.assessment_id is not None:
        return "done"
    if row.due_on < today:
        return "overdue"
    return "due" if row.due_on == today else "upcoming"


def _out(row: AssessmentDue, patient: Patient, now: datetime) -> DueOut:
    state = _state(row, local_today(now, patient.time_zone))
    return DueOut(
        id=row.id,
        patient_id=row.patient_id,
        clinic_number=patient.clinic_number,
        instrument=row.instrument_code,
        time_point=row.time_point,
        due_on=row.due_on,
        state=state,
        overdue=state == "overdue",
        study_id=row.study_id,
        assessment_id=row.assessment_id,
    )


async def attach_schedule(
    session: AsyncSession,
    patient: Patient,
    instruments: Sequence[str],
    points: Sequence[tuple[str, date]],
    *,
    study_id: int | None,
    created_by: str,
    now: datetime,
) -> list[AssessmentDue]:
    """The hook a study calls with its follow-up schedule (`follow_up_points`): each
    questionnaire due at each time point, and a reminder for each day to come. Attaching
    again moves a time point not yet done; one done stays as it was."""
    for code in instruments:
        await questionnaire_for(session, patient.clinic_id, code)  # refused if not loaded
    existing = {
        (row.instrument_code, row.time_point): row
        for row in (
            await session.execute(
                select(AssessmentDue).where(AssessmentDue.patient_id == patient.id)
            )
        ).scalars()
    }
    rows = []
    arm_says_no = await arm_withholds(session, patient.id)
    for code in dict.fromkeys(instruments):
        for label, day in points:
            row = existing.get((code, label))
            if row is None:
                row = AssessmentDue(
                    patient_id=patient.id,
                    clinic_id=patient.clinic_id,
                    instrument_code=code,
                    time_point=label,
                    due_on=day,
                    study_id=study_id,
                    reader=str(uuid.uuid4()),
                    created_by=created_by,
                    created_at=now,
                )
                session.add(row)
                await session.flush()
            elif row.assessment_id is None:
                row.due_on, row.study_id = day, study_id if study_id is not None else row.study_id
            rows.append(row)
            if row.assessment_id is None:
                await _plan_reminder(session, patient, row, now, arm_says_no=arm_says_no)
    return rows


async def arm_withholds(session: AsyncSession, patient_id: int) -> bool:
    """Whether the patient's study arm (or, before randomisation, one arm of their study)
    receives no assessment reminders (studies/policy.py)."""
    found = await session.scalar(
        select(Patient.id).where(Patient.id == patient_id, withheld("assessment_reminders"))
    )
    return found is not None


async def refresh_reminders(session: AsyncSession, patient: Patient, now: datetime) -> None:
    """Decide again, after a change of study arm (randomised, corrected, enrolled), whether
    the time points not yet done are reminded: planned, or suppressed with the reason."""
    arm_says_no = await arm_withholds(session, patient.id)
    rows = await session.execute(
        select(AssessmentDue).where(
            AssessmentDue.patient_id == patient.id, AssessmentDue.assessment_id.is_(None)
        )
    )
    for row in rows.scalars():
        await _plan_reminder(session, patient, row, now, arm_says_no=arm_says_no)


async def _plan_reminder(
    session: AsyncSession,
    patient: Patient,
    row: AssessmentDue,
    now: datetime,
    *,
    arm_says_no: bool = False,
) -> None:
    """The time point's reminder on its day (one per time point: its slot names it); none
    for a day gone by. A reminder already released stays as sent; one the arm suppressed
    is decided again (the arm may have changed)."""
    slot = f"due-{row.id}"
    planned = (
        await session.execute(
            select(Occurrence).where(
                Occurrence.patient_id == patient.id,
                Occurrence.kind == KIND,
                Occurrence.slot == slot,
            )
        )
    ).scalar_one_or_none()
    due_at = reminder_time(
        row.due_on, REMINDER_AT, patient.time_zone, patient.quiet_start, patient.quiet_end
    )
    undecided = planned is None or planned.state == "planned" or planned.reason == ARM_REASON
    if planned is not None and not undecided:
        return
    if row.due_on < local_today(now, patient.time_zone):
        if planned is not None:
            planned.state, planned.reason = "suppressed", "the time point was moved to the past"
        return
    if planned is None:
        planned = Occurrence(patient_id=patient.id, kind=KIND, slot=slot, state="planned")
        session.add(planned)
    planned.state, planned.reason = ("suppressed", ARM_REASON) if arm_says_no else ("planned", None)
    planned.local_date, planned.due_at = row.due_on, due_at
    planned.expires_at = due_at + REMINDER_WINDOW
    planned.payload = {"due_id": row.id}


async def set_schedule(
    ctx: Scheduler, principal: Principal, patient_id: int, data: ScheduleIn
) -> list[DueOut]:
    labels = [point.time_point for point in data.points]
    if len(set(labels)) != len(labels):
        raise InvalidInput("points: each time point once")
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        patient = await load_patient(session, principal, patient_id, lock=True)
        if patient.state == "discharged":
            raise InvalidInput("the patient is discharged")
        points = [(point.time_point, point.due_on) for point in data.points]
        await attach_schedule(
            session,
            patient,
            data.instruments,
            points,
            study_id=None,
            created_by=principal.token_id,
            now=now,
        )
        return await patient_rows(session, patient, now)


async def patient_rows(session: AsyncSession, patient: Patient, now: datetime) -> list[DueOut]:
    rows = (
        await session.execute(
            select(AssessmentDue)
            .where(AssessmentDue.patient_id == patient.id)
            .order_by(AssessmentDue.due_on, AssessmentDue.instrument_code)
        )
    ).scalars()
    return [_out(row, patient, now) for row in rows]


async def patient_schedule(ctx: Scheduler, principal: Principal, patient_id: int) -> list[DueOut]:
    """The patient's follow-up plan, each time point with its state."""
    async with ctx.db.sessions() as session:
        patient = await load_patient(session, principal, patient_id)
        return await patient_rows(session, patient, ctx.clock())


async def clinic_due(
    ctx: Scheduler, principal: Principal, clinic_id: int, until: date | None
) -> list[DueOut]:
    """What is due at a clinic and not done, up to `until` (default: a week ahead), the
    overdue first (oldest first), for patients still in care (not discharged)."""
    if not principal.can_access_clinic(clinic_id):
        raise NotFound(f"no clinic {clinic_id}")
    now = ctx.clock()
    last = until or now.date() + timedelta(days=LOOK_AHEAD_DAYS)
    async with ctx.db.sessions() as session:
        rows = (
            await session.execute(
                select(AssessmentDue, Patient)
                .join(Patient, Patient.id == AssessmentDue.patient_id)
                .where(
                    AssessmentDue.assessment_id.is_(None),
                    AssessmentDue.due_on <= last,
                    Patient.clinic_id == clinic_id,
                    Patient.state != "discharged",
                )
                .order_by(AssessmentDue.due_on, Patient.clinic_number, AssessmentDue.id)
                .limit(2000)
            )
        ).all()
        return [_out(row, patient, now) for row, patient in rows]


class LinkOut(msgspec.Struct, kw_only=True):
    url: str
    expires_at: datetime


async def issue_link(
    ctx: Scheduler,
    principal: Principal,
    patient_id: int,
    due_id: int,
    links: AssessmentLinks | None,
) -> LinkOut:
    """A self-assessment link for a time point not yet done, for staff to hand on (the
    reminder carries one of its own)."""
    async with ctx.db.sessions() as session:
        patient = await load_patient(session, principal, patient_id)
        due = await session.get(AssessmentDue, due_id)
        if due is None or due.patient_id != patient.id:
            raise NotFound(f"no time point {due_id} in the patient's plan")
        if due.assessment_id is not None:
            raise Conflict(f"{due.time_point!r} of {due.instrument_code!r} is done")
        if patient.state == "discharged" or patient.opted_out_at is not None:
            raise Conflict("the patient is discharged or opted out: a link would show nothing")
        language, reader = patient.language, due.reader
    url = links.url(RecordLink(reader, language)) if links is not None else None
    if links is None or url is None:
        raise Unavailable(
            "assessment links need LESSON_LINK_SECRET and a public URL for the scheduler "
            "(SCHEDULER_PUBLIC_URL or PUBLIC_BASE_URL)"
        )
    return LinkOut(url=url, expires_at=datetime.fromtimestamp(links.expires_at(), UTC))


@dataclass(frozen=True)
class Invite:
    """What an assessment reminder carries: the time point's self-assessment link."""

    link: str


async def reminder_invite(
    session: AsyncSession, occurrence_id: int, language: str, links: AssessmentLinks | None
) -> Invite | tuple[str, str]:
    """The link an assessment reminder carries, or the final state and reason it goes
    without sending: the time point answered already, or links not configured."""
    occurrence = await session.get(Occurrence, occurrence_id)
    due_id = (occurrence.payload or {}).get("due_id") if occurrence is not None else None
    due = await session.get(AssessmentDue, due_id) if isinstance(due_id, int) else None
    if due is None:
        return "failed", "the time point is no longer planned"
    if due.assessment_id is not None:
        return "skipped", "the questionnaire was answered already"
    url = links.url(RecordLink(due.reader, language)) if links is not None else None
    if url is None:
        return "failed", (
            "assessment links are not configured (LESSON_LINK_SECRET and a public URL for "
            "the scheduler)"
        )
    return Invite(url)
