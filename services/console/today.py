"""The Today page's content, from the APIs' answers: what needs a person first (urgent
needs, dropout alerts), then who has not come yet, then who has been dosed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from services.console.api_client import Alert, Clinic, Need, RosterEntry, ServicesClient


@dataclass(frozen=True)
class Waiting:
    """A patient due today without a recorded dose; `late` once their dose time passed."""

    patient: RosterEntry
    late: bool


@dataclass(frozen=True)
class TodayView:
    clinic: Clinic
    local_date: str
    local_time: str
    urgent_needs: list[Need]
    other_needs: list[Need]
    alerts: list[Alert]
    waiting: list[Waiting]
    dosed: list[RosterEntry]
    truncated: bool

    @property
    def due(self) -> int:
        return len(self.waiting) + len(self.dosed)

    @property
    def late(self) -> int:
        return sum(1 for w in self.waiting if w.late)


def dosed_time(patient: RosterEntry, zone: str) -> str:
    """The dose's local HH:MM at the clinic."""
    if patient.dosed_at is None:
        return ""
    return patient.dosed_at.astimezone(ZoneInfo(zone)).strftime("%H:%M")


async def load_today(api: ServicesClient, token: str, clinic: Clinic, now: datetime) -> TodayView:
    """Three API calls at once: the roster, open alerts, open needs."""
    roster, alerts, needs = await asyncio.gather(
        api.roster(token, clinic.id),
        api.open_alerts(token, clinic.id),
        api.open_needs(token, clinic.id),
    )
    local_now = now.astimezone(ZoneInfo(clinic.time_zone)).strftime("%H:%M")
    waiting = [
        Waiting(patient, late=patient.dose_time < local_now)
        for patient in roster.patients
        if patient.dosed_at is None
    ]
    return TodayView(
        clinic=clinic,
        local_date=roster.local_date,
        local_time=local_now,
        urgent_needs=[n for n in needs if n.urgent],
        other_needs=[n for n in needs if not n.urgent],
        alerts=alerts,
        waiting=waiting,
        dosed=[p for p in roster.patients if p.dosed_at is not None],
        truncated=roster.truncated,
    )
