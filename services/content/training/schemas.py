"""The staff-training API's bodies (msgspec), bounded like their columns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

RoundStatus = Literal["upcoming", "due", "done", "missed"]
# A question is named "<track>/<lesson key>": the staff lesson whose quiz it is.
QuestionId = Annotated[str, msgspec.Meta(min_length=1, max_length=101)]
Choice = Annotated[int, msgspec.Meta(ge=0, le=99)]


class LessonState(msgspec.Struct, kw_only=True):
    track: str
    key: str
    version: int
    title: str  # in the reader's language (zh-CN when the lesson has none in it)
    read_at: datetime | None  # of this version; None: not read yet


class RoundState(msgspec.Struct, kw_only=True):
    round: str
    opens_at: datetime
    closes_at: datetime  # the next round's date (12 months for the last)
    status: RoundStatus
    taken_at: datetime | None = None
    score: float | None = None  # share correct, 0..1


class MyTraining(msgspec.Struct, kw_only=True):
    staff_id: int
    started_at: datetime  # the staff account's creation: the rounds count from it
    lessons: list[LessonState]
    lessons_read: int
    rounds: list[RoundState]


class ReadOut(msgspec.Struct, kw_only=True):
    track: str
    key: str
    version: int
    read_at: datetime
    already: bool  # read before: the first reading's time is kept


class QuizQuestion(msgspec.Struct, kw_only=True):
    id: str
    track: str
    key: str
    version: int
    question: str
    options: list[str]


class QuizOut(msgspec.Struct, kw_only=True):
    round: str
    language: str
    status: RoundStatus
    opens_at: datetime
    closes_at: datetime
    questions: list[QuizQuestion]  # never the answers


class QuizIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # question id -> the option chosen (0-based); every question of the round, once.
    answers: Annotated[dict[QuestionId, Choice], msgspec.Meta(min_length=1, max_length=200)]


class AnswerOut(msgspec.Struct, kw_only=True):
    id: str
    choice: int
    correct: bool


class QuizResult(msgspec.Struct, kw_only=True):
    round: str
    taken_at: datetime
    questions: int
    correct: int
    score: float
    answers: list[AnswerOut]


class QuestionShare(msgspec.Struct, kw_only=True):
    id: str
    answered: int
    correct: int
    share_correct: float | None


class RoundReport(msgspec.Struct, kw_only=True):
    round: str
    staff: int  # the clinic's staff whose round has opened
    took: int
    mean_score: float | None
    questions: list[QuestionShare]


class ClinicReport(msgspec.Struct, kw_only=True):
    clinic_id: int
    staff: int  # active coordinator accounts of the clinic
    lessons: int  # staff lessons published now
    lessons_read: int  # (staff, lesson) pairs read in their current version
    lessons_read_share: float | None
    rounds: list[RoundReport]


class ProgrammeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # The clinic's programme start, a day where the clinic is (from its midnight).
    starts_on: Annotated[
        str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$", max_length=10)
    ]


class ProgrammeOut(msgspec.Struct, kw_only=True):
    clinic_id: int
    starts_at: datetime
    set_at: datetime
