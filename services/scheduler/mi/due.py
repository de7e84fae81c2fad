"""The worker's tick that asks a provider for an MI session coming due: a follow-up task of
kind `mi_session_due` (services/scheduler/tasks) for each client whose next session is due
or overdue (rules.py says when).

Idempotent: the signal's key names the patient, their window and the session's number, so
a tick that runs again, or two workers at once, make no second task for the same session;
the next session makes its own when it comes due. The discharged and those lost to a
study's follow-up are not asked for.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from services.scheduler.mi.rules import Window, progress
from services.scheduler.mi.targets import chunks, held_dates, windows
from services.scheduler.models import Patient
from services.scheduler.tasks.models import TaskSignal
from services.scheduler.tasks.signals import raise_signal
from services.scheduler.timeplan import local_today
from shared.db import Database

KIND = "mi_session_due"


def signal_key(patient_id: int, window: Window, number: int) -> str:
    return f"mi-session:{patient_id}:{window.starts_on.isoformat()}:{number}"


async def raise_due_sessions(db: Database, now: datetime) -> int:
    """Raise a signal for each session due and not signalled yet; how many were raised."""
    raised = 0
    async with db.transaction() as session:
        found = await windows(session, followed_only=True)
        if not found:
            return 0
        held = await held_dates(session, found)
        places: dict[int, tuple[int, str]] = {}
        for some in chunks(found):
            rows = await session.execute(
                select(Patient.id, Patient.clinic_id, Patient.time_zone).where(Patient.id.in_(some))
            )
            places |= {pid: (clinic_id, zone) for pid, clinic_id, zone in rows}
        wanted: dict[str, tuple[int, str]] = {}
        for pid, window in found.items():
            state = progress(window, held[pid], local_today(now, places[pid][1]))
            if state.status in ("due", "overdue") and state.next_session is not None:
                detail = f"session {state.next_session} of {window.target} by {state.next_due_by}"
                wanted[signal_key(pid, window, state.next_session)] = (pid, detail)
        # One query for the keys signalled before, rather than one look-up per client.
        seen: set[str] = set()
        for keys in chunks(wanted):
            signalled = await session.execute(
                select(TaskSignal.signal_key).where(TaskSignal.signal_key.in_(keys))
            )
            seen.update(signalled.scalars())
        for key, (pid, detail) in wanted.items():
            if key in seen:
                continue
            await raise_signal(
                session,
                kind=KIND,
                clinic_id=places[pid][0],
                patient_id=pid,
                signal_key=key,
                signalled_at=now,
                detail=detail,
            )
            raised += 1
    return raised
