"""The console's one way to the data: the services' public HTTP APIs, called with the
signed-in person's token over one pooled client, so every call is audited under their name.

The console never opens another service's tables; whatever it shows, the API can show.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import msgspec


class ApiError(Exception):
    """An API answered something the page cannot show (the message names which).

    For a refusal (400, 403, 409, 422), `detail` is the API's reason and `fields` the fields
    it names (the parser's `extra` keys, or the first word of the reason, which the services
    start with the field): a form shows the error beside them. Neither goes into the message,
    which is logged: a reason can quote what was typed."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        detail: str = "",
        fields: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail
        self.fields = fields


class _Refusal(msgspec.Struct):
    detail: str = ""
    extra: list[dict[str, Any]] | None = None


def _refusal(body: bytes) -> tuple[str, tuple[str, ...]]:
    try:
        refusal = msgspec.json.decode(body, type=_Refusal)
    except msgspec.DecodeError:  # not the services' error shape (a proxy's page)
        return "", ()
    keys = tuple(str(e["key"]) for e in refusal.extra or () if isinstance(e, dict) and "key" in e)
    words = refusal.detail.split(" ", 1)
    return refusal.detail, keys or ((words[0],) if words[0] else ())


class SessionRevoked(ApiError):
    """The API refused the session's token (401): revoked, expired or unknown."""


class ApiNotFound(ApiError):
    """404: the resource does not exist or is not this person's to see."""


class Clinic(msgspec.Struct, kw_only=True):
    id: int
    code: str
    name: str
    time_zone: str


class RosterEntry(msgspec.Struct, kw_only=True):
    patient_id: int
    clinic_number: str
    display_name: str
    dose_time: str
    dosed_at: datetime | None
    mg: float | None


class Roster(msgspec.Struct, kw_only=True):
    clinic_id: int
    local_date: str
    patients: list[RosterEntry]
    truncated: bool


class Followup(msgspec.Struct, kw_only=True):
    id: int
    outcome: str | None  # reached, not_reachable, referred, resolved, other
    text: str
    author: str  # the token id of the writer
    author_name: str | None  # "Name (login)", kept when written
    created_at: datetime


class Alert(msgspec.Struct, kw_only=True):
    id: int
    patient_id: int
    kind: str
    raised_on: str
    details: dict[str, Any]
    state: str = "open"
    outcome: str | None = None  # the latest follow-up's
    followups: list[Followup] = msgspec.field(default_factory=list)


class Note(msgspec.Struct, kw_only=True):
    id: int
    author: str  # the token id of the writer
    text: str
    created_at: datetime
    author_name: str | None = None  # "Name (login)", kept when written


class Need(msgspec.Struct, kw_only=True):
    id: int
    patient_id: int
    clinic_id: int
    text: str
    category: str
    urgent: bool
    status: str
    created_at: datetime
    assignee: str | None = None  # the staff login following it up
    notes: list[Note] | None = None  # in the detail only


class ServicesClient:
    """Typed calls to the scheduler, feedback and content APIs; one `httpx.AsyncClient`."""

    def __init__(
        self, http: httpx.AsyncClient, scheduler_url: str, feedback_url: str, content_url: str
    ) -> None:
        self.http = http
        self.scheduler = scheduler_url.rstrip("/")
        self.feedback = feedback_url.rstrip("/")
        self.content = content_url.rstrip("/")

    async def call(
        self,
        token: str,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> bytes:
        """One call under the person's token, its refusals as typed errors: what every
        group of pages' API module (care_api.py, study_api.py, ...) calls."""
        try:
            response = await self.http.request(
                method,
                url,
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            # The kind of failure and the service, never the URL (it holds ids).
            raise ApiError(f"{type(exc).__name__} calling {url.split('/api/')[0]}") from None
        if response.status_code == 401:
            raise SessionRevoked("the API refused the session's token")
        if response.status_code == 404:
            raise ApiNotFound("not found")
        # 422: an answer off its scale; 403: a change only someone else may make (an MI
        # session's correction by another than its author), its reason shown on the page.
        if response.status_code in (400, 403, 409, 422):
            detail, fields = _refusal(response.content)
            raise ApiError(f"HTTP {response.status_code}", response.status_code, detail, fields)
        if response.status_code >= 400:
            raise ApiError(f"HTTP {response.status_code}", response.status_code)
        return response.content

    async def clinics(self, token: str) -> list[Clinic]:
        body = await self.call(token, "GET", f"{self.scheduler}/api/v1/clinics")
        return msgspec.json.decode(body, type=list[Clinic])

    async def roster(self, token: str, clinic_id: int) -> Roster:
        url = f"{self.scheduler}/api/v1/clinics/{clinic_id}/roster"
        return msgspec.json.decode(await self.call(token, "GET", url), type=Roster)

    async def open_alerts(self, token: str, clinic_id: int) -> list[Alert]:
        params = {"clinic_id": clinic_id, "status": "open"}
        body = await self.call(token, "GET", f"{self.scheduler}/api/v1/alerts", params=params)
        return msgspec.json.decode(body, type=list[Alert])

    async def open_needs(self, token: str, clinic_id: int) -> list[Need]:
        """Needs not yet resolved: new and in progress, urgent first then newest."""
        found: list[Need] = []
        for status in ("new", "in_progress"):
            params = {"clinic_id": clinic_id, "status": status, "limit": 100}
            body = await self.call(token, "GET", f"{self.feedback}/api/v1/needs", params=params)
            found += msgspec.json.decode(body, type=list[Need])
        return sorted(found, key=lambda n: (not n.urgent, -n.created_at.timestamp()))

    async def need(self, token: str, need_id: int) -> Need:
        url = f"{self.feedback}/api/v1/needs/{need_id}"
        return msgspec.json.decode(await self.call(token, "GET", url), type=Need)

    async def move_need(self, token: str, need_id: int, status: str) -> None:
        url = f"{self.feedback}/api/v1/needs/{need_id}"
        await self.call(token, "PATCH", url, json={"status": status})

    async def add_need_note(self, token: str, need_id: int, text: str) -> None:
        url = f"{self.feedback}/api/v1/needs/{need_id}/notes"
        await self.call(token, "POST", url, json={"text": text})

    async def acknowledge_alert(self, token: str, alert_id: int) -> None:
        """Acknowledged, by this person or, a moment before, by a colleague (409)."""
        url = f"{self.scheduler}/api/v1/alerts/{alert_id}/acknowledge"
        try:
            await self.call(token, "POST", url)
        except ApiError as exc:
            if exc.status != 409:
                raise

    async def record_dose(self, token: str, patient_id: int, taken_at: datetime) -> None:
        url = f"{self.scheduler}/api/v1/patients/{patient_id}/doses"
        await self.call(token, "POST", url, json={"taken_at": taken_at.isoformat()})
