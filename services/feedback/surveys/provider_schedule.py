"""The provider-interaction questionnaire again, every FEEDBACK_PROVIDER_SURVEY_EVERY_DAYS.

Staff start the first one (for a patient or a clinic's active patients); from then on each
patient who was asked is asked again that many days after their last questionnaire began,
answered or not. So enabling the setting sends nothing to a clinic that never started it,
and a patient just enrolled is not asked about staff they have barely met. A patient in
another survey, paused, discharged or opted out is left until they are free and active.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from services.feedback.models import Outbox, Sender, SurveyRun
from services.feedback.surveys import runs
from services.feedback.surveys.definitions import BUILT_IN, PROVIDER_INTERACTION
from shared.bus import add_to_outbox
from shared.db import Database

STARTED_BY = "schedule"


async def ask_again(db: Database, now: datetime, every: timedelta, batch: int = 500) -> int:
    """Start the questionnaire for up to `batch` patients whose last one began `every` ago;
    returns how many. Replicas share the work: each locks the senders it takes."""
    survey = BUILT_IN[PROVIDER_INTERACTION]
    last = (
        select(SurveyRun.patient_id, func.max(SurveyRun.started_at).label("began"))
        .where(SurveyRun.survey_key == PROVIDER_INTERACTION)
        .group_by(SurveyRun.patient_id)
        .subquery()
    )
    busy = select(SurveyRun.id).where(
        SurveyRun.patient_id == Sender.patient_id, SurveyRun.state == "open"
    )
    query = (
        select(Sender)
        .join(last, last.c.patient_id == Sender.patient_id)
        .where(
            last.c.began <= now - every,
            Sender.state == "active",
            Sender.opted_out.is_(False),
            ~busy.exists(),
        )
        .order_by(Sender.patient_id)
        .limit(batch)
        .with_for_update(of=Sender, skip_locked=True)
    )
    async with db.transaction() as session:
        senders = (await session.execute(query)).scalars().all()
        for sender in senders:
            _, ask = await runs.start(session, sender, survey, started_by=STARTED_BY, now=now)
            add_to_outbox(session, Outbox, ask)
    return len(senders)
