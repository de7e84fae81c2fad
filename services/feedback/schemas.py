"""Request and response shapes of the feedback API (msgspec: validated at the edge)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

NeedStatus = Literal["new", "in_progress", "resolved"]
Category = Literal["medical", "counselling", "legal", "housing_income", "family", "other"]


class NoteIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class NoteOut(msgspec.Struct, kw_only=True):
    id: int
    author: str  # the token id of the coordinator who wrote it
    text: str
    created_at: datetime


class NeedPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: NeedStatus | None = None
    category: Category | None = None


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


class RatingSummary(msgspec.Struct, kw_only=True):
    track: str | None
    lesson_key: str | None  # None: ratings not tied to a recent lesson
    ratings: int
    average: float
