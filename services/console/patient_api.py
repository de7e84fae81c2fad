"""The patient pages' API calls (a patient's record, month, timeline, replies and needs;
enrolment, pause, resume, discharge, transfer, urine tests, WeChat binding): typed calls of
the scheduler and feedback APIs over the console's one pooled client
(services/console/api_client.py), kept apart from the other pages' calls.

A page calls these only for a clinic it checked is the person's (`clinic_of`); the API
then checks the patient is within the token's clinics (404 otherwise)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec

from services.console.api_client import Alert, Need, ServicesClient
from services.console.care_api import PatientMi, Task
from services.console.study_api import StudyPart


class Patient(msgspec.Struct, kw_only=True):
    id: int
    clinic_id: int
    clinic_number: str
    display_name: str
    phone: str | None
    has_wechat: bool
    channel_order: list[str]
    language: str
    time_zone: str
    dose_time: str
    quiet_start: str
    quiet_end: str
    lesson_weekdays: list[int] | None
    lesson_time: str | None
    track: str | None
    study_arm: str | None
    explicit_wording: bool
    state: str  # active, paused, discharged
    pause_reason: str | None
    resume_on: date | None
    opted_out: bool
    consent_version: str
    consent_given_at: datetime | None = None
    enrolled_at: datetime


class CalendarDay(msgspec.Struct, kw_only=True):
    day: date
    state: str  # dosed, missed, paused, discharged, due, future, not_enrolled
    mg: float | None


class MonthCalendar(msgspec.Struct, kw_only=True):
    month: str  # YYYY-MM
    today: date
    days: list[CalendarDay]
    counts: dict[str, int]


class TimelineEntry(msgspec.Struct, kw_only=True):
    at: datetime
    type: str  # message, attempt, dose, urine_test
    detail: dict[str, Any]


class Reply(msgspec.Struct, kw_only=True):
    """A patient's message as feedback read it: never a number; words only for needs."""

    id: int
    kind: str
    channel: str
    received_at: datetime
    rating: int | None
    lesson_key: str | None
    text: str | None


class PatientPage(msgspec.Struct, kw_only=True):
    """The scheduler's part of the patient page (GET /patients/{id}/page)."""

    patient: Patient
    calendar: MonthCalendar
    timeline: list[TimelineEntry]
    alerts: list[Alert]
    study: StudyPart | None = None  # questionnaires and printed handouts (study_api.py)
    mi: PatientMi | None = None  # MI sessions and the target (care_api.py)
    tasks: list[Task] | None = None  # follow-up tasks about the patient


class Binding(msgspec.Struct, kw_only=True):
    expires_at: datetime
    qr_url: str | None  # None when the scheduler has no official account configured


class PatientApi:
    def __init__(self, api: ServicesClient) -> None:
        self.api = api

    def _patient_url(self, patient_id: int, action: str = "") -> str:
        return f"{self.api.scheduler}/api/v1/patients/{patient_id}{action}"

    async def patient(self, token: str, patient_id: int) -> Patient:
        body = await self.api.call(token, "GET", self._patient_url(patient_id))
        return msgspec.json.decode(body, type=Patient)

    async def page(self, token: str, patient_id: int, month: str | None) -> PatientPage:
        """The record, the month, the timeline and the alerts: one scheduler call."""
        params: dict[str, Any] = {"limit": 200, **({"month": month} if month else {})}
        url = self._patient_url(patient_id, "/page")
        body = await self.api.call(token, "GET", url, params=params)
        return msgspec.json.decode(body, type=PatientPage)

    async def replies(self, token: str, patient_id: int) -> list[Reply]:
        # By patient alone: replies sent while they belonged to another of the person's
        # clinics are theirs too (the API keeps to the token's clinics).
        url = f"{self.api.feedback}/api/v1/feedback"
        params = {"patient_id": patient_id, "limit": 100}
        body = await self.api.call(token, "GET", url, params=params)
        return msgspec.json.decode(body, type=list[Reply])

    async def needs(self, token: str, patient_id: int) -> list[Need]:
        url = f"{self.api.feedback}/api/v1/needs"
        params = {"patient_id": patient_id, "limit": 50}
        body = await self.api.call(token, "GET", url, params=params)
        return msgspec.json.decode(body, type=list[Need])

    async def enrol(self, token: str, record: dict[str, Any]) -> Patient:
        url = f"{self.api.scheduler}/api/v1/patients"
        body = await self.api.call(token, "POST", url, json=record)
        return msgspec.json.decode(body, type=Patient)

    async def pause(self, token: str, patient_id: int, reason: str, resume_on: str | None) -> None:
        body = {"reason": reason, "resume_on": resume_on or None}
        await self.api.call(token, "POST", self._patient_url(patient_id, "/pause"), json=body)

    async def resume(self, token: str, patient_id: int) -> None:
        await self.api.call(token, "POST", self._patient_url(patient_id, "/resume"))

    async def discharge(self, token: str, patient_id: int) -> None:
        await self.api.call(token, "POST", self._patient_url(patient_id, "/discharge"))

    async def transfer(self, token: str, patient_id: int, clinic_id: int, number: str) -> None:
        body = {"clinic_id": clinic_id, "clinic_number": number}
        await self.api.call(token, "POST", self._patient_url(patient_id, "/transfer"), json=body)

    async def urine_test(
        self, token: str, patient_id: int, taken_on: str, result: str, substances: list[str]
    ) -> None:
        body = {"taken_on": taken_on, "result": result, "substances": substances}
        url = self._patient_url(patient_id, "/urine-tests")
        await self.api.call(token, "POST", url, json=body)

    async def wechat_binding(self, token: str, patient_id: int) -> Binding:
        url = self._patient_url(patient_id, "/wechat-binding")
        return msgspec.json.decode(await self.api.call(token, "POST", url), type=Binding)
