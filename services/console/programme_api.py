"""The programme pages' API calls (who is struggling, needs inbox, reports, audit): typed
reads of the scheduler and feedback APIs over the console's one pooled client
(services/console/api_client.py), kept apart from the Today page's calls.

Every call names one clinic the page already checked is the person's (`clinic_of`), or,
for the audit log, is an admin's."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec

from services.console.api_client import Need, ServicesClient
from shared.access.audit import AuditOut
from shared.bus.deadletters import DeadLetter


class PatientSignals(msgspec.Struct, kw_only=True):
    patient_id: int
    clinic_number: str
    display_name: str
    days: int
    missed_days: int
    failed_messages: int
    reached_messages: int
    opted_out: bool


class ClinicSignals(msgspec.Struct, kw_only=True):
    first_day: date
    last_day: date
    patients: list[PatientSignals]


class Message(msgspec.Struct, kw_only=True):
    id: str
    patient_id: int
    kind: str
    state: str
    reason: str | None
    channel: str | None


class Reply(msgspec.Struct, kw_only=True):
    id: int
    patient_id: int
    kind: str
    received_at: datetime
    rating: int | None
    lesson_key: str | None


class RatingGroup(msgspec.Struct, kw_only=True):
    track: str | None
    group: str | None
    ratings: int
    average: float
    distribution: dict[str, int]


class QuestionReport(msgspec.Struct, kw_only=True):
    key: str
    type: str
    answered: int
    timed_out: int
    distribution: dict[str, int]


class SurveyReport(msgspec.Struct, kw_only=True):
    survey: str
    runs: dict[str, int]
    questions: list[QuestionReport]


EXPORTS = {"replies.csv": "replies.csv", "survey-answers.csv": "survey-answers.csv"}


class ProgrammeApi:
    """Reads for the programme pages, through the console's `ServicesClient`."""

    def __init__(self, api: ServicesClient) -> None:
        self.api = api

    async def _get(self, token: str, url: str, params: dict[str, Any]) -> bytes:
        return await self.api.call(token, "GET", url, params=params)

    async def signals(self, token: str, clinic_id: int, days: int) -> ClinicSignals:
        url = f"{self.api.scheduler}/api/v1/clinics/{clinic_id}/signals"
        return msgspec.json.decode(await self._get(token, url, {"days": days}), type=ClinicSignals)

    async def messages_on(self, token: str, clinic_id: int, day: date) -> list[Message]:
        url = f"{self.api.scheduler}/api/v1/clinics/{clinic_id}/messages"
        body = await self._get(token, url, {"on": day.isoformat(), "limit": 1000})
        return msgspec.json.decode(body, type=list[Message])

    async def needs(self, token: str, clinic_id: int, status: str) -> list[Need]:
        params = {"clinic_id": clinic_id, "status": status, "limit": 1000}
        body = await self._get(token, f"{self.api.feedback}/api/v1/needs", params)
        return msgspec.json.decode(body, type=list[Need])

    async def ratings_since(self, token: str, clinic_id: int, since: datetime) -> list[Reply]:
        params = {
            "clinic_id": clinic_id,
            "kind": "rating",
            "since": since.isoformat(),
            "limit": 1000,
        }
        body = await self._get(token, f"{self.api.feedback}/api/v1/feedback", params)
        return msgspec.json.decode(body, type=list[Reply])

    async def ratings_by_lesson(self, token: str, clinic_id: int) -> list[RatingGroup]:
        params = {"by": "lesson", "clinic_id": clinic_id}
        body = await self._get(token, f"{self.api.feedback}/api/v1/reports/ratings", params)
        return msgspec.json.decode(body, type=list[RatingGroup])

    async def survey_report(self, token: str, clinic_id: int, survey: str) -> SurveyReport:
        url = f"{self.api.feedback}/api/v1/reports/surveys/{survey}"
        body = await self._get(token, url, {"clinic_id": clinic_id})
        return msgspec.json.decode(body, type=SurveyReport)

    async def export(self, token: str, clinic_id: int, name: str) -> bytes:
        url = f"{self.api.feedback}/api/v1/exports/{EXPORTS[name]}"
        params: dict[str, Any] = {"clinic_id": clinic_id}
        if name == "survey-answers.csv":
            params["survey"] = "yuxi_evaluation"
        return await self._get(token, url, params)

    async def assign_need(self, token: str, need_id: int, login: str | None) -> None:
        """Assign the need to a staff login (None: to nobody); the API checks the login."""
        url = f"{self.api.feedback}/api/v1/needs/{need_id}"
        await self.api.call(token, "PATCH", url, json={"assignee": login})

    async def dead_letters(self, token: str, limit: int) -> list[DeadLetter]:
        url = f"{self.api.scheduler}/api/v1/dead-letters"
        body = await self._get(token, url, {"limit": limit})
        return msgspec.json.decode(body, type=list[DeadLetter])

    async def audit(self, token: str, filters: dict[str, Any]) -> list[AuditOut]:
        params = {k: v for k, v in filters.items() if v not in (None, "")}
        body = await self._get(token, f"{self.api.scheduler}/api/v1/audit", params)
        return msgspec.json.decode(body, type=list[AuditOut])
