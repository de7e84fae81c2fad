"""The follow-up pages' API calls (issue 22): follow-up tasks (lists, one task with its
signals and notes, claim / status / outcome / note / assignee), MI sessions logged with a
patient, corrected or voided, and the clinic numbers of the patients a list names by id.
Typed calls of the scheduler's API over the console's one pooled client
(services/console/api_client.py).

A page calls these only for a clinic it checked is the person's (`clinic_of`); the API
then checks the task or patient is within the token's clinics (404 otherwise)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec

from services.console.api_client import ServicesClient

# The kinds and statuses the scheduler knows (services/scheduler/tasks/rules.py).
KINDS = (
    "dropout_risk",
    "urgent_need",
    "open_need",
    "risk_rise",
    "low_ratings",
    "unreachable",
    "missed_doses",
    "mi_session_due",
)
STATUSES = ("open", "in_progress", "done", "cannot_reach")
OPEN_STATUSES = ("open", "in_progress")
OUTCOMES = ("reached", "not_reachable", "referred", "resolved", "other")
MI_TOPICS = ("drug_use", "treatment_adherence", "hiv_hcv_risk", "family", "work_housing", "other")
PAGE = 1000  # the API's largest page of tasks


class Task(msgspec.Struct, kw_only=True):
    id: int
    clinic_id: int
    patient_id: int
    kind: str
    status: str
    outcome: str | None
    assignee_staff_id: int | None
    assignee: str | None  # "Name (login)"
    signal_count: int
    signalled_at: datetime
    due_at: datetime
    overdue: bool
    first_contact_at: datetime | None
    closed_at: datetime | None
    escalated_at: datetime | None


class Signal(msgspec.Struct, kw_only=True):
    kind: str
    detail: str | None
    signalled_at: datetime


class TaskNote(msgspec.Struct, kw_only=True):
    id: int
    outcome: str | None
    text: str
    author: str
    author_name: str | None
    created_at: datetime


class TaskDetail(Task, kw_only=True):
    signals: list[Signal]
    notes: list[TaskNote]


class PatientLabel(msgspec.Struct, kw_only=True):
    id: int
    clinic_number: str
    display_name: str


class MiTarget(msgspec.Struct, kw_only=True):
    source: str  # study, clinic
    target: int
    held: int
    window_starts_on: date
    window_ends_on: date
    status: str  # met, on_track, due, overdue, missed
    next_session: int | None
    next_due_by: date | None


class MiSession(msgspec.Struct, kw_only=True):
    id: int
    held_on: date
    provider_name: str
    minutes: int
    topic: str
    topic_note: str | None
    importance: int
    confidence: int
    plan: str | None
    author_staff_id: int | None  # who logged it: the one offered a correction
    created_at: datetime
    voided: bool
    void_reason: str | None


class PatientMi(msgspec.Struct, kw_only=True):
    target: MiTarget | None  # None: no target for this patient
    sessions: list[MiSession]  # newest first, voided ones too


class CareApi:
    def __init__(self, api: ServicesClient) -> None:
        self.api = api

    def _url(self, path: str) -> str:
        return f"{self.api.scheduler}/api/v1{path}"

    async def tasks(self, token: str, **query: Any) -> list[Task]:
        """Tasks in the token's scope, filtered (`mine`, `clinic_id`, `status`, ...)."""
        params = {"limit": PAGE, **{k: v for k, v in query.items() if v is not None}}
        if isinstance(params.get("mine"), bool):
            params["mine"] = str(params["mine"]).lower()
        body = await self.api.call(token, "GET", self._url("/tasks"), params=params)
        return msgspec.json.decode(body, type=list[Task])

    async def task(self, token: str, task_id: int) -> TaskDetail:
        body = await self.api.call(token, "GET", self._url(f"/tasks/{task_id}"))
        return msgspec.json.decode(body, type=TaskDetail)

    async def update_task(self, token: str, task_id: int, change: dict[str, Any]) -> TaskDetail:
        url = self._url(f"/tasks/{task_id}")
        body = await self.api.call(token, "PATCH", url, json=change)
        return msgspec.json.decode(body, type=TaskDetail)

    async def add_task_note(self, token: str, task_id: int, text: str, outcome: str | None) -> None:
        note = {"text": text, **({"outcome": outcome} if outcome else {})}
        await self.api.call(token, "POST", self._url(f"/tasks/{task_id}/notes"), json=note)

    async def labels(self, token: str, clinic_id: int, ids: list[int]) -> dict[int, PatientLabel]:
        """The clinic numbers and names of these patients of the clinic, by id (in pages
        of the API's 200)."""
        found: dict[int, PatientLabel] = {}
        wanted = sorted(set(ids))  # none: no call
        for start in range(0, len(wanted), 200):
            params = {"id": wanted[start : start + 200]}
            url = self._url(f"/clinics/{clinic_id}/patient-labels")
            body = await self.api.call(token, "GET", url, params=params)
            found |= {p.id: p for p in msgspec.json.decode(body, type=list[PatientLabel])}
        return found

    async def log_mi(self, token: str, patient_id: int, session: dict[str, Any]) -> MiSession:
        url = self._url(f"/patients/{patient_id}/mi-sessions")
        body = await self.api.call(token, "POST", url, json=session)
        return msgspec.json.decode(body, type=MiSession)

    async def patient_mi(self, token: str, patient_id: int) -> PatientMi:
        body = await self.api.call(token, "GET", self._url(f"/patients/{patient_id}/mi-sessions"))
        return msgspec.json.decode(body, type=PatientMi)

    async def correct_mi(self, token: str, session_id: int, change: dict[str, Any]) -> MiSession:
        url = self._url(f"/mi-sessions/{session_id}")
        body = await self.api.call(token, "PATCH", url, json=change)
        return msgspec.json.decode(body, type=MiSession)

    async def void_mi(self, token: str, session_id: int, reason: str) -> MiSession:
        url = self._url(f"/mi-sessions/{session_id}/void")
        body = await self.api.call(token, "POST", url, json={"reason": reason})
        return msgspec.json.decode(body, type=MiSession)
