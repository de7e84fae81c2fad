"""Request and response shapes of the feedback API (msgspec: validated at the edge)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

NeedStatus = Literal["new", "in_progress", "resolved"]
Category = Literal["medical", "counselling", "legal", "housing_income", "family", "other"]


class NoteIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]

    openapi_example: ClassVar[dict[str, Any]] = {"text": "Called back; referred to legal aid."}


class NoteOut(msgspec.Struct, kw_only=True):
    id: int
    author: str  # the token id of the coordinator who wrote it
    text: str
    created_at: datetime
    author_name: str | None = None  # "Name (login)" of the staff member, kept at writing


Login = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class NeedPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: NeedStatus | None = None
    category: Category | None = None
    # A staff login to assign the need to; null takes the assignment away; absent: unchanged.
    assignee: Login | msgspec.UnsetType | None = msgspec.UNSET

    openapi_example: ClassVar[dict[str, Any]] = {
        "status": "in_progress",
        "category": "legal",
        "assignee": "li.na",
    }


class NeedOut(msgspec.Struct, kw_only=True):
    id: int
    patient_id: int
    clinic_id: int
    channel: str
    text: str
    category: str
    urgent: bool
    status: str
    created_at: datetime
    updated_at: datetime
    updated_by: str | None
    assignee: str | None = None  # the staff login following it up
    notes: list[NoteOut] | None = None  # in the detail only


class FeedbackOut(msgspec.Struct, kw_only=True):
    """A patient's message: what it meant; the words only for needs. Never a phone number."""

    id: int
    patient_id: int
    clinic_id: int
    channel: str
    kind: str
    received_at: datetime
    rating: int | None
    track: str | None
    lesson_key: str | None
    text: str | None
    # How the worker's answer went: "sent", "not sent: <reason>" (e.g. no reply template),
    # "pending" while it goes; None when there was nothing to answer.
    answer: str | None = None


class RatingSummary(msgspec.Struct, kw_only=True):
    track: str | None
    lesson_key: str | None  # None: ratings not tied to a recent lesson
    ratings: int
    average: float


class SurveyRunsIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Whom to survey in the clinic: the listed patients, else every active one (of an arm)."""

    patient_ids: Annotated[list[int], msgspec.Meta(min_length=1, max_length=10_000)] | None = None
    study_arm: Literal["intervention", "control"] | None = None

    openapi_example: ClassVar[dict[str, Any]] = {"study_arm": "intervention"}


class SurveyRunsStarted(msgspec.Struct, kw_only=True):
    survey: str
    started: int
    already_in_a_survey: int  # one survey at a time: these were left alone
    not_reachable: list[int]  # unknown here, not active, or opted out


class AnswerOut(msgspec.Struct, kw_only=True):
    question_key: str
    state: str  # answered, timed_out
    value: int | None
    text: str | None
    at: datetime


class SurveyRunOut(msgspec.Struct, kw_only=True):
    id: int
    survey: str
    patient_id: int
    clinic_id: int
    study_arm: str | None
    state: str
    question_index: int
    started_at: datetime
    finished_at: datetime | None
    answers: list[AnswerOut]


class RatingGroup(msgspec.Struct, kw_only=True):
    """Ratings grouped by lesson (track + key), module (track + module) or study arm."""

    track: str | None
    group: str | None  # the lesson key, module or arm; None: not tied to one
    ratings: int
    average: float
    distribution: dict[str, int]  # "1".."5" -> count


class QuestionReport(msgspec.Struct, kw_only=True):
    key: str
    type: str
    answered: int
    timed_out: int
    distribution: dict[str, int]  # answer value -> count (scale, choice); empty for text


class SurveyReport(msgspec.Struct, kw_only=True):
    survey: str
    study_arm: str | None  # the arm reported, or None for all
    runs: dict[str, int]  # state -> count
    questions: list[QuestionReport]


class NeedCount(msgspec.Struct, kw_only=True):
    category: str
    status: str
    urgent: bool
    count: int
