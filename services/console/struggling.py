"""Who is struggling at a clinic: patients ranked by concrete signals, each row saying why.

Everything comes from the public APIs, one clinic per call: the scheduler's week of signals
(missed days, messages failed against reached, opted out: counted in SQL), open dropout
alerts, open needs and ratings of 1-2 this week. The ranking is a plain weighted count,
so a coordinator can see why a person is above another: an urgent need outranks
everything, then an alert, then the rest.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.response import Template

from services.console.api_client import Alert, Clinic, Need
from services.console.pages import clinic_of, console_of, page, signed_in
from services.console.programme_api import ClinicSignals, ProgrammeApi, Reply
from shared.params import RowId

Req = Request[Any, Any, Any]
WEEK = 7
MISSED_DAYS_SIGNAL = 2  # one missed day is ordinary; two in a week is worth a call
WEIGHTS = {
    "urgent_need": 100,
    "alert": 50,
    "unreachable": 30,
    "opted_out": 20,
    "open_need": 15,
    "low_rating": 10,
    "missed_day": 5,
}


@dataclass
class Struggling:
    """One patient's signals; `reasons` in the order the page shows them."""

    patient_id: int
    clinic_number: str = ""
    display_name: str = ""
    missed_days: int = 0
    alerts: list[Alert] = field(default_factory=list)
    urgent_needs: list[Need] = field(default_factory=list)
    open_needs: list[Need] = field(default_factory=list)
    low_ratings: list[int] = field(default_factory=list)
    unreachable: bool = False
    opted_out: bool = False

    @property
    def score(self) -> int:
        counted = self.missed_days if self.missed_days >= MISSED_DAYS_SIGNAL else 0
        return (
            WEIGHTS["urgent_need"] * len(self.urgent_needs)
            + WEIGHTS["alert"] * len(self.alerts)
            + WEIGHTS["unreachable"] * self.unreachable
            + WEIGHTS["opted_out"] * self.opted_out
            + WEIGHTS["open_need"] * len(self.open_needs)
            + WEIGHTS["low_rating"] * len(self.low_ratings)
            + WEIGHTS["missed_day"] * counted
        )


@dataclass(frozen=True)
class Week:
    """What the page is built from: the APIs' answers for one clinic and one week."""

    signals: ClinicSignals
    alerts: list[Alert]
    needs: list[Need]
    ratings: list[Reply]


def rank(week: Week) -> list[Struggling]:
    """Patients with at least one signal, highest score first (then clinic number)."""
    rows: dict[int, Struggling] = {}
    known = {p.patient_id: p for p in week.signals.patients}

    def row(patient_id: int) -> Struggling:
        if patient_id not in rows:
            brief = known.get(patient_id)
            rows[patient_id] = Struggling(
                patient_id,
                clinic_number=brief.clinic_number if brief else "",
                display_name=brief.display_name if brief else "",
            )
        return rows[patient_id]

    for patient in week.signals.patients:
        if patient.missed_days >= MISSED_DAYS_SIGNAL:
            row(patient.patient_id).missed_days = patient.missed_days
        if patient.opted_out:
            row(patient.patient_id).opted_out = True
        if patient.failed_messages and not patient.reached_messages:
            row(patient.patient_id).unreachable = True  # nothing got through all week
    for alert in week.alerts:
        row(alert.patient_id).alerts.append(alert)
    for need in week.needs:
        target = row(need.patient_id)
        (target.urgent_needs if need.urgent else target.open_needs).append(need)
    for reply in week.ratings:
        if reply.rating is not None and reply.rating <= 2:
            row(reply.patient_id).low_ratings.append(reply.rating)
    found = [r for r in rows.values() if r.score > 0]
    return sorted(found, key=lambda r: (-r.score, r.clinic_number, r.patient_id))


def past_days(now: datetime, zone: str, count: int = WEEK) -> list[date]:
    """The `count` local days before today (today's patients may still come)."""
    today = now.astimezone(ZoneInfo(zone)).date()
    return [today - timedelta(days=n) for n in range(count, 0, -1)]


async def load_week(api: ProgrammeApi, token: str, clinic: Clinic, now: datetime) -> Week:
    signals, alerts, new, in_progress, ratings = await asyncio.gather(
        api.signals(token, clinic.id, WEEK),
        api.api.open_alerts(token, clinic.id),
        api.needs(token, clinic.id, "new"),
        api.needs(token, clinic.id, "in_progress"),
        api.ratings_since(token, clinic.id, now - timedelta(days=WEEK)),
    )
    return Week(signals=signals, alerts=alerts, needs=[*new, *in_progress], ratings=ratings)


class StrugglingPage(Controller):
    @get("/clinics/{clinic_id:int}/struggling")
    async def struggling(self, request: Req, clinic_id: RowId) -> Template:
        data = await signed_in(request)
        clinic = clinic_of(data, clinic_id)
        console = console_of(request)
        week = await load_week(ProgrammeApi(console.api), data.token, clinic, console.clock())
        return page(
            request,
            "struggling.html",
            clinic=clinic,
            rows=rank(week),
            first_day=week.signals.first_day,
            last_day=week.signals.last_day,
            missed_signal=MISSED_DAYS_SIGNAL,
        )
