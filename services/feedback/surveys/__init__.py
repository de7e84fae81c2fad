"""Surveys: definitions (`definitions.py`: the built-in Yuxi evaluation and lesson
helpfulness, and the clinics' own, with their checks), runs (`runs.py`: one patient, one
question at a time), what staff do with them (`admin.py`, routes in `api.py`), and the
helpfulness question after each lesson (`lesson_question.py`).

The names below are the runs' API that the replies, reports and the worker use.
"""

from __future__ import annotations

from services.feedback.surveys.runs import (
    Answered,
    answer,
    ask,
    cancel_open,
    close_unanswered,
    definition,
    has_open_run,
    open_run,
    start,
    time_out,
)

__all__ = [
    "Answered",
    "answer",
    "ask",
    "cancel_open",
    "close_unanswered",
    "definition",
    "has_open_run",
    "open_run",
    "start",
    "time_out",
]
