"""The training pages' API calls: the content service's staff training (my lessons and quiz
rounds, answering a round, the per-clinic report) and the scheduler's cluster-randomised
studies (which arm each clinic is in), with the signed-in person's token."""

from __future__ import annotations

from datetime import datetime

import msgspec

from services.console.api_client import ServicesClient


class LessonState(msgspec.Struct, kw_only=True):
    track: str
    key: str
    version: int
    title: str
    read_at: datetime | None


class RoundState(msgspec.Struct, kw_only=True):
    round: str
    opens_at: datetime
    closes_at: datetime
    status: str  # upcoming, due, done, missed
    taken_at: datetime | None = None
    score: float | None = None


class MyTraining(msgspec.Struct, kw_only=True):
    staff_id: int
    started_at: datetime
    lessons: list[LessonState]
    lessons_read: int
    rounds: list[RoundState]


class QuizQuestion(msgspec.Struct, kw_only=True):
    id: str
    track: str
    key: str
    question: str
    options: list[str]


class Quiz(msgspec.Struct, kw_only=True):
    round: str
    status: str
    opens_at: datetime
    closes_at: datetime
    questions: list[QuizQuestion]


class QuizResult(msgspec.Struct, kw_only=True):
    round: str
    questions: int
    correct: int
    score: float


class QuestionShare(msgspec.Struct, kw_only=True):
    id: str
    answered: int
    correct: int
    share_correct: float | None


class RoundReport(msgspec.Struct, kw_only=True):
    round: str
    staff: int
    took: int
    mean_score: float | None
    questions: list[QuestionShare]


class ClinicReport(msgspec.Struct, kw_only=True):
    clinic_id: int
    staff: int
    lessons: int
    lessons_read: int
    lessons_read_share: float | None
    rounds: list[RoundReport]


class Study(msgspec.Struct, kw_only=True):
    id: int
    key: str
    titles: dict[str, str]
    unit: str  # "clinic": cluster-randomised


class ClinicArm(msgspec.Struct, kw_only=True):
    clinic_id: int
    arm: str


class TrainingApi:
    def __init__(self, api: ServicesClient) -> None:
        self.api = api
        self.base = f"{api.content}/api/v1/training"

    async def mine(self, token: str, language: str) -> MyTraining:
        body = await self.api.call(token, "GET", f"{self.base}/me", params={"language": language})
        return msgspec.json.decode(body, type=MyTraining)

    async def mark_read(self, token: str, track: str, key: str) -> None:
        await self.api.call(token, "POST", f"{self.base}/lessons/{track}/{key}/read")

    async def quiz(self, token: str, round_name: str, language: str) -> Quiz:
        url, params = f"{self.base}/quiz/{round_name}", {"language": language}
        return msgspec.json.decode(await self.api.call(token, "GET", url, params=params), type=Quiz)

    async def take(self, token: str, round_name: str, answers: dict[str, int]) -> QuizResult:
        url = f"{self.base}/quiz/{round_name}"
        body = await self.api.call(token, "POST", url, json={"answers": answers})
        return msgspec.json.decode(body, type=QuizResult)

    async def report(self, token: str) -> list[ClinicReport]:
        body = await self.api.call(token, "GET", f"{self.base}/report")
        return msgspec.json.decode(body, type=list[ClinicReport])

    async def clinic_arms(self, token: str) -> list[tuple[Study, list[ClinicArm]]]:
        """Every study randomised by clinic, with the arm of each of its clinics."""
        url = f"{self.api.scheduler}/api/v1/studies"
        studies = msgspec.json.decode(await self.api.call(token, "GET", url), type=list[Study])
        found = []
        for study in studies:
            if study.unit != "clinic":
                continue
            body = await self.api.call(token, "GET", f"{url}/{study.id}/clinics")
            found.append((study, msgspec.json.decode(body, type=list[ClinicArm])))
        return found
