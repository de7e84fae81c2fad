"""The scheduler's own facts that become tasks, found by a sweep rather than in the send
path (dispatch is the hot path of a 200k-message morning; a sweep every few minutes costs
one indexed query per clinic and leaves it alone):

- `unreachable`: a message that failed after every channel the patient can be reached on
  was tried (or none was available): no channel is left to fall back to.
- `missed_doses`: the patient was sent a missed-dose message for today and still took no
  dose by the time the clinic closed.

Both are keyed on the fact (the message, the patient's day), so a sweep run twice or by
two workers makes nothing extra.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.models import Attempt, Dose, Message, Occurrence, Patient
from services.scheduler.tasks.models import TaskSignal
from services.scheduler.tasks.signals import raise_signal
from services.scheduler.timeplan import local_today, reminder_time
from shared.access.models import Clinic
from shared.db import Database
from shared.logging import get_logger

log = get_logger(__name__)
REACHED = ("sent", "delivered")


def _reachable_on(patient: Patient) -> list[str]:
    """The channels of the patient's order they have an address for."""
    address = {"sms": patient.phone_enc, "wechat": patient.openid_enc}
    return [code for code in patient.channel_order if address.get(code, "any") is not None]


async def signal_unreachable(db: Database, clinic: Clinic, now: datetime) -> int:
    """Failed messages of the clinic's last two local days with no channel left; returns
    how many new signals were raised."""
    since = local_today(now, clinic.time_zone) - timedelta(days=1)
    key = "unreachable:" + Message.id
    raised = 0
    async with db.transaction() as session:
        failed = (
            await session.execute(
                select(Message.id, Message.updated_at, Patient)
                .join(Patient, Patient.id == Message.patient_id)
                .where(
                    Message.clinic_id == clinic.id,
                    Message.local_date >= since,
                    Message.state == "failed",
                    ~exists().where(TaskSignal.signal_key == key),
                )
            )
        ).all()
        tried = await _tried_channels(session, [row.id for row in failed])
        for message_id, failed_at, patient in failed:
            if not set(_reachable_on(patient)) <= tried.get(message_id, set()):
                continue  # failed for another reason (our configuration, an expiry)
            await raise_signal(
                session,
                kind="unreachable",
                clinic_id=patient.clinic_id,
                patient_id=patient.id,
                signal_key=f"unreachable:{message_id}",
                signalled_at=failed_at,
                detail="a message failed on every channel",
            )
            raised += 1
    return raised


async def _tried_channels(session: AsyncSession, message_ids: list[str]) -> dict[str, set[str]]:
    tried: dict[str, set[str]] = {}
    for start in range(0, len(message_ids), 500):
        rows = await session.execute(
            select(Attempt.message_id, Attempt.channel).where(
                Attempt.message_id.in_(message_ids[start : start + 500])
            )
        )
        for message_id, channel in rows:
            tried.setdefault(message_id, set()).add(channel)
    return tried


async def signal_missed_after_reminder(db: Database, clinic: Clinic, now: datetime) -> int:
    """Once the clinic has closed today: patients sent a missed-dose message for today who
    took no dose today either."""
    today = local_today(now, clinic.time_zone)
    closed = reminder_time(
        today, clinic.closes_at, clinic.time_zone, clinic.closes_at, clinic.closes_at
    )
    if now < closed:
        return 0
    raised = 0
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(Patient.id, Patient.clinic_id)
                .join(Occurrence, Occurrence.patient_id == Patient.id)
                .join(Message, Message.occurrence_id == Occurrence.id)
                .where(
                    Patient.clinic_id == clinic.id,
                    Patient.state == "active",
                    Occurrence.kind == "missed_dose",
                    Occurrence.local_date == today,
                    Message.state.in_(REACHED),
                    ~exists().where(and_(Dose.patient_id == Patient.id, Dose.local_date == today)),
                )
                .distinct()
            )
        ).all()
        for patient_id, clinic_id in rows:
            key = f"missed_doses:{patient_id}:{today.isoformat()}"
            if await session.scalar(select(TaskSignal.id).where(TaskSignal.signal_key == key)):
                continue
            await raise_signal(
                session,
                kind="missed_doses",
                clinic_id=clinic_id,
                patient_id=patient_id,
                signal_key=key,
                signalled_at=closed,
                detail=f"no dose on {today.isoformat()} after a missed-dose message",
            )
            raised += 1
    return raised


async def sweep_facts(db: Database, access_db: Database, now: datetime) -> int:
    """Both sweeps for every clinic; one clinic's trouble does not stop the others."""
    async with access_db.sessions() as session:
        clinics = list((await session.execute(select(Clinic))).scalars())
    raised = 0
    for clinic in clinics:
        try:
            raised += await signal_unreachable(db, clinic, now)
            raised += await signal_missed_after_reminder(db, clinic, now)
        except Exception as exc:
            log.error("tasks.facts_failed", clinic_id=clinic.id, error=type(exc).__name__)
    return raised
