"""The study pages' API calls (issue 21): the clinic's due questionnaires, a questionnaire
whole for the staff form, recording answers, the patient's self-assessment link, printed
handouts (the content service's PDF, the scheduler's log of what was given), and the study
part of the scheduler's patient page. Typed calls over the console's one pooled client
(services/console/api_client.py), kept apart from the other pages' calls.

A page calls these only for a clinic it checked is the person's (`clinic_of`); the APIs
then check the patient is within the token's clinics (404 otherwise)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec

from services.console.api_client import ServicesClient


class Due(msgspec.Struct, kw_only=True):
    """A questionnaire at a time point of a patient's follow-up plan."""

    id: int
    patient_id: int
    clinic_number: str
    instrument: str
    time_point: str
    due_on: date
    state: str  # done, overdue, due, upcoming
    assessment_id: int | None


class Done(msgspec.Struct, kw_only=True):
    """An assessment recorded, with its scores (None: too many answers missing)."""

    id: int
    instrument: str
    version: int
    time_point: str | None
    mode: str  # staff, self
    scores: dict[str, float | None]
    assessed_by: str
    assessed_at: datetime
    already_recorded: bool = False


class Names(msgspec.Struct, kw_only=True):
    titles: dict[str, str]
    scores: dict[str, dict[str, str]]


class Handout(msgspec.Struct, kw_only=True):
    id: int
    track: str
    lesson_key: str
    version: int
    language: str
    given_on: date
    given_at: datetime
    given_by_name: str | None
    already_recorded: bool = False


class HandoutLesson(msgspec.Struct, kw_only=True):
    track: str
    version: int
    key: str
    position: int
    titles: dict[str, str]


class Assessments(msgspec.Struct, kw_only=True):
    plan: list[Due]
    done: list[Done]
    names: dict[str, Names]


class Handouts(msgspec.Struct, kw_only=True):
    on_paper: bool
    given: list[Handout]
    lessons: list[HandoutLesson]


class StudyPart(msgspec.Struct, kw_only=True):
    """The scheduler's study part of the patient page (`GET /patients/{id}/page`)."""

    assessments: Assessments
    handouts: Handouts


class Choice(msgspec.Struct, kw_only=True):
    value: str
    texts: dict[str, str]


class Scale(msgspec.Struct, kw_only=True):
    key: str
    kind: str  # likert, choice
    answers: list[Choice]


class Question(msgspec.Struct, kw_only=True):
    key: str
    scale: str
    texts: dict[str, str]


class Questionnaire(msgspec.Struct, kw_only=True):
    code: str
    version: int
    titles: dict[str, str]
    scales: list[Scale]
    questions: list[Question]


class Summary(msgspec.Struct, kw_only=True):
    code: str
    titles: dict[str, str]


class Link(msgspec.Struct, kw_only=True):
    url: str
    expires_at: datetime


class StudyApi:
    def __init__(self, api: ServicesClient) -> None:
        self.api = api

    def _patient_url(self, patient_id: int, action: str) -> str:
        return f"{self.api.scheduler}/api/v1/patients/{patient_id}{action}"

    async def due(self, token: str, clinic_id: int) -> list[Due]:
        """Due and not done, within a week, the overdue first (the API's order)."""
        url = f"{self.api.scheduler}/api/v1/clinics/{clinic_id}/assessments-due"
        return msgspec.json.decode(await self.api.call(token, "GET", url), type=list[Due])

    async def questionnaires(self, token: str, clinic_id: int) -> list[Summary]:
        url = f"{self.api.scheduler}/api/v1/assessment-instruments"
        body = await self.api.call(token, "GET", url, params={"clinic_id": clinic_id})
        return msgspec.json.decode(body, type=list[Summary])

    async def questionnaire(self, token: str, clinic_id: int, code: str) -> Questionnaire:
        url = f"{self.api.scheduler}/api/v1/assessment-instruments/{code}"
        body = await self.api.call(token, "GET", url, params={"clinic_id": clinic_id})
        return msgspec.json.decode(body, type=Questionnaire)

    async def record(self, token: str, patient_id: int, answers: dict[str, Any]) -> Done:
        url = self._patient_url(patient_id, "/assessments")
        body = await self.api.call(token, "POST", url, json=answers)
        return msgspec.json.decode(body, type=Done)

    async def link(self, token: str, patient_id: int, due_id: int) -> Link:
        url = self._patient_url(patient_id, f"/assessment-plan/{due_id}/link")
        return msgspec.json.decode(await self.api.call(token, "POST", url), type=Link)

    async def give_handout(
        self, token: str, patient_id: int, track: str, lesson_key: str, version: int
    ) -> Handout:
        body = {"track": track, "lesson_key": lesson_key, "version": version}
        url = self._patient_url(patient_id, "/handouts")
        return msgspec.json.decode(await self.api.call(token, "POST", url, json=body), type=Handout)

    async def handout_pdf(
        self, token: str, clinic_id: int, lesson: tuple[str, int, str], language: str
    ) -> bytes:
        """The content service's A4 handout of a published lesson, with the clinic's name."""
        track, version, key = lesson
        url = f"{self.api.content}/api/v1/tracks/{track}/versions/{version}/lessons/{key}/handout"
        params = {"clinic_id": clinic_id, "language": language}
        return await self.api.call(token, "GET", url, params=params)
