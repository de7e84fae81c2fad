"""The feedback worker's parts: the read model of senders and lessons."""

from __future__ import annotations

from services.feedback.readmodel import store_last_lesson, store_sender
from shared.db import Database
from shared.messages import LessonSent, PatientEnrolled, PatientUpdated
from shared.service import WorkerParts
from shared.settings import Settings


async def setup(db: Database, settings: Settings) -> WorkerParts:
    return WorkerParts(
        handlers={
            PatientEnrolled: store_sender,
            PatientUpdated: store_sender,
            LessonSent: store_last_lesson,
        }
    )
