"""The reports page's follow-up section: per kind of task, how long the clinic took from a
task's first signal to its first contact (a status change or a note with an outcome) over
the last 30 days, as the scheduler reports it (issue 22: time from signal to first
contact per clinic)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from services.console.api_client import ServicesClient


class KindContact(msgspec.Struct, kw_only=True):
    kind: str
    tasks: int  # first signalled within the period
    contacted: int
    median_hours: float | None
    p90_hours: float | None
    still_open: int
    overdue: int


class TimeToContact(msgspec.Struct, kw_only=True):
    from_: datetime = msgspec.field(name="from")
    to: datetime
    kinds: list[KindContact]

    @property
    def rows(self) -> list[KindContact]:
        """The kinds the period had tasks of (a row of zeros says nothing)."""
        return [k for k in self.kinds if k.tasks]


async def time_to_contact(api: ServicesClient, token: str, clinic_id: int) -> TimeToContact:
    """The scheduler's default period: the 30 days up to now."""
    url = f"{api.scheduler}/api/v1/clinics/{clinic_id}/reports/time-to-contact"
    return msgspec.json.decode(await api.call(token, "GET", url), type=TimeToContact)
