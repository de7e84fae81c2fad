"""The reports page's provider-interaction section: clients' anonymous ratings of the staff
who talk with them, per month, as the feedback service reports them (months that have
not ended or have too few respondents come without figures, and the page says why)."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from services.console.api_client import ServicesClient


class ItemFigures(msgspec.Struct, kw_only=True):
    key: str
    mean: float
    distribution: dict[str, int]


class Cell(msgspec.Struct, kw_only=True):
    period: str
    shown: bool
    hidden: str | None
    ended: int
    respondents: int | None = None
    completed: int | None = None
    response_rate: float | None = None
    overall_mean: float | None = None
    items: list[ItemFigures] = []

    def mean_of(self, key: str) -> float | None:
        return next((item.mean for item in self.items if item.key == key), None)


class ProviderInteraction(msgspec.Struct, kw_only=True):
    from_month: str
    to_month: str
    minimum_respondents: int
    months: list[Cell]
    total: Cell


@dataclass(frozen=True)
class ProviderReport:
    """What the section shows: the months, then the window's total and its answers."""

    report: ProviderInteraction

    @property
    def rows(self) -> list[Cell]:
        return [*self.report.months, self.report.total]

    @property
    def items(self) -> list[ItemFigures]:
        return self.report.total.items


async def provider_interaction(api: ServicesClient, token: str, clinic_id: int) -> ProviderReport:
    """The last three months that have ended (the feedback service's default window)."""
    url = f"{api.feedback}/api/v1/clinics/{clinic_id}/reports/provider-interaction"
    body = await api.call(token, "GET", url)
    return ProviderReport(msgspec.json.decode(body, type=ProviderInteraction))
