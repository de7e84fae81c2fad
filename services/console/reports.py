"""A clinic's reports: the delivery funnel per channel and day, ratings per lesson and the
Yuxi evaluation survey, drawn as SVG on the server (no script) with the numbers beside
them, clients' anonymous ratings of their providers per month (`provider_report.py`), how soon
follow-up tasks reached their patient (`contact_report.py`), and
the feedback service's CSV exports passed through under the person's token."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from services.console.api_client import Clinic
from services.console.contact_report import TimeToContact, time_to_contact
from services.console.pages import clinic_of, console_of, page, signed_in
from services.console.programme_api import (
    EXPORTS,
    Message,
    ProgrammeApi,
    RatingGroup,
    SurveyReport,
)
from services.console.provider_report import ProviderReport, provider_interaction
from services.console.struggling import past_days
from shared.params import RowId

Req = Request[Any, Any, Any]
STATES = ("queued", "sent", "delivered", "failed", "expired", "suppressed", "opted_out")
SURVEY = "yuxi_evaluation"
CHART_WIDTH = 240  # the longest bar, in SVG units


@dataclass(frozen=True)
class Bar:
    """One bar of a chart: its label, value and length (0..CHART_WIDTH)."""

    label: str
    value: float
    length: float


def bars(values: list[tuple[str, float]], top: float | None = None) -> list[Bar]:
    highest = top if top is not None else max((v for _, v in values), default=0)
    scale = CHART_WIDTH / highest if highest else 0
    return [Bar(label, value, round(value * scale, 1)) for label, value in values]


@dataclass(frozen=True)
class FunnelDay:
    day: date
    channel: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Funnel:
    days: list[FunnelDay]  # by day, then channel
    totals: dict[str, dict[str, int]]  # channel -> state -> count, over the days
    reasons: list[tuple[str, int]]  # failure reasons, most frequent first


def funnel(messages: dict[date, list[Message]]) -> Funnel:
    """Messages counted by day, channel and state; a message never sent has no channel."""
    by_day: dict[tuple[date, str], Counter[str]] = defaultdict(Counter)
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: Counter[str] = Counter()
    for day, found in messages.items():
        for m in found:
            channel = m.channel or "none"
            by_day[day, channel][m.state] += 1
            totals[channel][m.state] += 1
            if m.state == "failed":
                reasons[m.reason or "?"] += 1
    return Funnel(
        days=[FunnelDay(d, c, dict(n)) for (d, c), n in sorted(by_day.items())],
        totals={c: dict(n) for c, n in sorted(totals.items())},
        reasons=reasons.most_common(20),
    )


@dataclass(frozen=True)
class ReportsView:
    clinic: Clinic
    first_day: date
    last_day: date
    funnel: Funnel
    ratings: list[RatingGroup]
    rating_bars: list[Bar]
    survey: SurveyReport
    provider: ProviderReport  # clients' anonymous ratings of the staff, per month
    contact: TimeToContact  # follow-up tasks: hours from signal to first contact


async def load_reports(api: ProgrammeApi, token: str, clinic: Clinic, now: datetime) -> ReportsView:
    days = past_days(now, clinic.time_zone)
    daily, ratings, survey, provider, contact = await asyncio.gather(
        asyncio.gather(*(api.messages_on(token, clinic.id, day) for day in days)),
        api.ratings_by_lesson(token, clinic.id),
        api.survey_report(token, clinic.id, SURVEY),
        provider_interaction(api.api, token, clinic.id),
        time_to_contact(api.api, token, clinic.id),
    )
    labelled = [(f"{g.track or ''}/{g.group or '-'}", g.average) for g in ratings]
    return ReportsView(
        clinic=clinic,
        first_day=days[0],
        last_day=days[-1],
        funnel=funnel(dict(zip(days, daily, strict=True))),
        ratings=ratings,
        rating_bars=bars(labelled, top=5),
        survey=survey,
        provider=provider,
        contact=contact,
    )


class ReportPages(Controller):
    path = "/clinics/{clinic_id:int}"

    @get("/reports")
    async def reports(self, request: Req, clinic_id: RowId) -> Template:
        data = await signed_in(request)
        clinic = clinic_of(data, clinic_id)
        console = console_of(request)
        view = await load_reports(ProgrammeApi(console.api), data.token, clinic, console.clock())
        return page(
            request,
            "reports.html",
            clinic=clinic,
            view=view,
            states=STATES,
            bars=bars,
            exports=EXPORTS,
        )

    @get("/exports/{name:str}")
    async def export(self, request: Req, clinic_id: RowId, name: FromPath[str]) -> Response[bytes]:
        data = await signed_in(request)
        clinic = clinic_of(data, clinic_id)
        if name not in EXPORTS:
            raise NotFoundException("no such export")
        body = await ProgrammeApi(console_of(request).api).export(data.token, clinic.id, name)
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{clinic.code}-{name}"'},
        )
