"""What a study arm lets the planner send, as SQL conditions on a patient row.

They are correlated EXISTS clauses the planner adds to its INSERT ... SELECT per group
(planner/ahead.py) and the survey read model adds to a question: set-based, never a
look-up per patient. A patient in no study is planned as before.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from services.scheduler.models import Patient
from services.scheduler.studies.models import StudyArm, StudyArmTrack, StudyParticipant

Push = Literal["dose_reminders", "lessons", "surveys", "assessment_reminders"]


def withheld(push: Push) -> ColumnElement[bool]:
    """True for a patient a study withholds `push` from: randomised into an arm that does
    not receive it or, until randomised, enrolled in a study one of whose arms does not
    (before allocation a participant gets only what every arm gets, so that nothing sent
    during screening differs between the arms)."""
    blocked: ColumnElement[bool] = ~getattr(StudyArm, push)
    if push == "lessons":
        # An arm that lists its tracks sends lessons of those tracks only.
        # Correlated to the patient two levels up, not joined to every patient.
        other_track = ~exists(
            select(StudyArmTrack.arm_id)
            .where(StudyArmTrack.arm_id == StudyArm.id, StudyArmTrack.track == Patient.track)
            .correlate_except(StudyArmTrack)
        )
        blocked = or_(blocked, and_(StudyArm.tracks_limited, other_track))
    return exists(
        select(StudyParticipant.id)
        .join(
            StudyArm,
            and_(
                StudyArm.study_id == StudyParticipant.study_id,
                or_(StudyParticipant.arm_id.is_(None), StudyArm.id == StudyParticipant.arm_id),
            ),
        )
        .where(StudyParticipant.patient_id == Patient.id, blocked)
    )


def legacy_control() -> ColumnElement[bool]:
    """Before studies, staff typed an arm and "control" meant no lessons. It still does for
    a patient in no study (their label is kept); for a study's participants the label only
    mirrors their allocation, which decides alone (`withheld`)."""
    in_a_study = exists(
        select(StudyParticipant.id).where(StudyParticipant.patient_id == Patient.id)
    )
    return and_(func.coalesce(Patient.study_arm, "") == "control", ~in_a_study)
