"""A patient's page content, from the APIs' answers: the record, the month as a grid of
weeks, one timeline of what was sent and what the patient replied, urine tests, ratings
and needs; and the WeChat binding's QR code, drawn here as inline SVG (segno)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import segno
from markupsafe import Markup

from services.console.api_client import Alert, Clinic, Need
from services.console.care_api import PatientMi, Task
from services.console.patient_api import (
    CalendarDay,
    MonthCalendar,
    Patient,
    PatientApi,
    PatientPage,
    Reply,
)
from services.console.study_api import StudyPart
from services.console.task_view import tasks_first

MONTH = re.compile(r"(19|20)\d\d-(0[1-9]|1[0-2])")
TIMELINE_ROWS = 80


@dataclass(frozen=True)
class Happening:
    """One line of the timeline: something sent (message, attempt), done at the clinic
    (dose, urine test) or received from the patient (reply)."""

    at: datetime
    type: str  # message, attempt, dose, urine_test, reply
    detail: dict[str, Any]


@dataclass(frozen=True)
class PatientView:
    clinic: Clinic
    patient: Patient
    calendar: MonthCalendar
    weeks: list[list[CalendarDay | None]]  # Monday first; None pads the month's ends
    previous_month: str
    next_month: str | None  # None: the month shown is the present one
    timeline: list[Happening]
    urine_tests: list[Happening]
    ratings: list[Reply]
    needs: list[Need]
    alerts: list[Alert]
    study: StudyPart | None = None  # questionnaires and printed handouts
    mi: PatientMi | None = None  # MI sessions and the target
    tasks: list[Task] | None = None  # follow-up tasks, the open and overdue first

    def local(self, at: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
        from zoneinfo import ZoneInfo

        return at.astimezone(ZoneInfo(self.clinic.time_zone)).strftime(fmt)


def month_or_none(value: str | None) -> str | None:
    """A YYYY-MM the API accepts, or None (the present month): a bad value in the URL
    shows this month rather than an error."""
    return value if value and MONTH.fullmatch(value) else None


def month_weeks(days: list[CalendarDay]) -> list[list[CalendarDay | None]]:
    if not days:
        return []
    cells: list[CalendarDay | None] = [None] * days[0].day.weekday()
    cells += days
    cells += [None] * (-len(cells) % 7)
    return [cells[i : i + 7] for i in range(0, len(cells), 7)]


def _neighbours(month: str, today: date) -> tuple[str, str | None]:
    first = date.fromisoformat(f"{month}-01")
    previous = (first - timedelta(days=1)).strftime("%Y-%m")
    following = (first + timedelta(days=31)).replace(day=1)
    return previous, following.strftime("%Y-%m") if following <= today else None


def merged_timeline(
    entries: list[Any], replies: list[Reply], limit: int = TIMELINE_ROWS
) -> list[Happening]:
    """The scheduler's timeline and feedback's replies, newest first."""
    happenings = [Happening(e.at, e.type, e.detail) for e in entries]
    happenings += [
        Happening(
            r.received_at,
            "reply",
            {"kind": r.kind, "channel": r.channel, "rating": r.rating, "text": r.text},
        )
        for r in replies
    ]
    return sorted(happenings, key=lambda h: h.at, reverse=True)[:limit]


async def load_patient_view(
    api: PatientApi, token: str, clinic: Clinic, page: PatientPage
) -> PatientView:
    """The scheduler's answer (`page`: asked first, so that another clinic's patient is
    refused before anything else is asked) and feedback's two calls, made at once."""
    patient, calendar, entries = page.patient, page.calendar, page.timeline
    replies, needs = await asyncio.gather(
        api.replies(token, patient.id),
        api.needs(token, patient.id),
    )
    previous, following = _neighbours(calendar.month, calendar.today)
    return PatientView(
        clinic=clinic,
        patient=patient,
        calendar=calendar,
        weeks=month_weeks(calendar.days),
        previous_month=previous,
        next_month=following,
        timeline=merged_timeline(entries, replies),
        urine_tests=[Happening(e.at, e.type, e.detail) for e in entries if e.type == "urine_test"],
        ratings=[r for r in replies if r.kind == "rating" and r.rating is not None],
        needs=needs,
        alerts=page.alerts,
        study=page.study,
        mi=page.mi,
        tasks=tasks_first(page.tasks) if page.tasks is not None else None,
    )


def qr_svg(content: str) -> Markup:
    """`content` (WeChat's QR address) as an inline SVG: the Content-Security-Policy allows
    no data: image, and an inline SVG needs no request. Only segno's own markup is
    emitted; the content is encoded in the path, never placed as text."""
    code = segno.make(content, error="m", micro=False)
    svg = code.svg_inline(border=4, dark="#000", light="#fff", omitsize=True)
    return Markup(svg)  # noqa: S704 (segno's markup: path data only)


def masked_phone(phone: str | None) -> str:
    """The last four digits only: the page is on a counter's shared screen."""
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    return "•••• " + digits[-4:] if len(digits) >= 4 else "••••"
