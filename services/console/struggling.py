"""Who is struggling at a clinic: patients ranked by concrete signals, each row saying why.

Everything comes from the public APIs, one clinic per call: the last seven days' rosters
(missed days), their messages (unreachable on every channel), open dropout alerts, open
needs, ratings of 1-2 this week and the active patients (opted out). The ranking is a
plain weighted count, so a coordinator can see why a person is above another: an urgent
need outranks everything, then an alert, then the rest.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.response import Template

from services.console.api_client import Alert, Clinic, Need
from services.console.pages import clinic_of, console_of, page, signed_in
from services.console.programme_api import Message, PatientBrief, ProgrammeApi, Reply
from shared.params import RowId

Req = Request[Any, Any, Any]
WEEK = 7
MISSED_DAYS_SIGNAL = 2  # one missed day is ordinary; two in a week is worth a call
# A message that ended without reaching the patient; "sent"/"delivered" reached a channel.
_UNREACHED = {"failed"}
_REACHED = {"sent", "delivered"}
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

    days: list[date]
    rosters: dict[date, set[int]]  # day -> patients dosed that day
    messages: list[Message]
    alerts: list[Alert]
    needs: list[Need]
    ratings: list[Reply]
    patients: list[PatientBrief]


def rank(week: Week, zone: str) -> list[Struggling]:
    """Patients with at least one signal, highest score first (then clinic number)."""
    rows: dict[int, Struggling] = {}
    known = {p.id: p for p in week.patients}

    def row(patient_id: int) -> Struggling:
        if patient_id not in rows:
            brief = known.get(patient_id)
            rows[patient_id] = Struggling(
                patient_id,
                clinic_number=brief.clinic_number if brief else "",
                display_name=brief.display_name if brief else "",
            )
        return rows[patient_id]

    tz = ZoneInfo(zone)
    for patient in week.patients:
        enrolled = patient.enrolled_at.astimezone(tz).date()
        missed = sum(
            1
            for day in week.days
            if day >= enrolled and patient.id not in week.rosters.get(day, set())
        )
        if missed >= MISSED_DAYS_SIGNAL:
            row(patient.id).missed_days = missed
        if patient.opted_out:
            row(patient.id).opted_out = True
    for alert in week.alerts:
        row(alert.patient_id).alerts.append(alert)
    for need in week.needs:
        target = row(need.patient_id)
        (target.urgent_needs if need.urgent else target.open_needs).append(need)
    for reply in week.ratings:
        if reply.rating is not None and reply.rating <= 2:
            row(reply.patient_id).low_ratings.append(reply.rating)
    outcomes: dict[int, set[str]] = defaultdict(set)
    for message in week.messages:
        outcomes[message.patient_id].add(message.state)
    for patient_id, states in outcomes.items():
        if states & _UNREACHED and not states & _REACHED and patient_id in known:
            row(patient_id).unreachable = True
    found = [r for r in rows.values() if r.score > 0]
    return sorted(found, key=lambda r: (-r.score, r.clinic_number, r.patient_id))


def past_days(now: datetime, zone: str, count: int = WEEK) -> list[date]:
    """The `count` local days before today (today's patients may still come)."""
    today = now.astimezone(ZoneInfo(zone)).date()
    return [today - timedelta(days=n) for n in range(count, 0, -1)]


async def load_week(api: ProgrammeApi, token: str, clinic: Clinic, now: datetime) -> Week:
    days = past_days(now, clinic.time_zone)
    since = now - timedelta(days=WEEK)
    rosters, messages, rest = await asyncio.gather(
        asyncio.gather(*(api.roster_on(token, clinic.id, day) for day in days)),
        asyncio.gather(*(api.messages_on(token, clinic.id, day) for day in days)),
        asyncio.gather(
            api.api.open_alerts(token, clinic.id),
            api.needs(token, clinic.id, "new"),
            api.needs(token, clinic.id, "in_progress"),
            api.ratings_since(token, clinic.id, since),
            api.patients(token, clinic.id),
        ),
    )
    alerts, new, in_progress, ratings, patients = rest
    return Week(
        days=days,
        rosters={
            day: {p.patient_id for p in roster.patients if p.dosed_at is not None}
            for day, roster in zip(days, rosters, strict=True)
        },
        messages=[m for day in messages for m in day],
        alerts=alerts,
        needs=[*new, *in_progress],
        ratings=ratings,
        patients=patients,
    )


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
            rows=rank(week, clinic.time_zone),
            first_day=week.days[0],
            last_day=week.days[-1],
            missed_signal=MISSED_DAYS_SIGNAL,
        )
