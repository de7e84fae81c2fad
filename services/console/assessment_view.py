"""A questionnaire as the staff form shows it, from the API's answers: each question in the
staff member's language (zh-CN when the questionnaire has none in theirs) with its scale's
answers, what was typed, and the API's refusal put beside the question it names.

The rules (which answers a scale allows, how many may be missing) are the scheduler's
alone: the form sends what was chosen and shows what the API says of it. A 422 names each
wrong question as `answers.<key>: <reason>`, joined by "; "."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from services.console.study_api import Questionnaire

FALLBACK = "zh-CN"  # every questionnaire has it


def in_language(texts: dict[str, str], language: str) -> str:
    return texts.get(language) or texts.get(FALLBACK) or next(iter(texts.values()), "")


@dataclass(frozen=True)
class Option:
    value: str
    text: str


@dataclass(frozen=True)
class AskedQuestion:
    key: str
    text: str
    options: list[Option]
    chosen: str  # the value typed, or ""
    problem: str  # the API's reason for this question, or ""


@dataclass(frozen=True)
class AssessmentForm:
    code: str
    version: int
    title: str
    questions: list[AskedQuestion]


def question_problems(detail: str) -> tuple[dict[str, str], list[str]]:
    """The API's reasons by question key (`answers.<key>: ...`), and the rest."""
    by_question: dict[str, str] = {}
    others: list[str] = []
    for part in (p.strip() for p in detail.split("; ") if p.strip()):
        head, _, reason = part.partition(": ")
        if head.startswith("answers.") and reason:
            by_question[head.removeprefix("answers.")] = reason
        else:
            others.append(part)
    return by_question, others


def assessment_form(
    questionnaire: Questionnaire,
    language: str,
    typed: dict[str, str],
    problems: dict[str, str],
) -> AssessmentForm:
    scales = {scale.key: scale for scale in questionnaire.scales}
    return AssessmentForm(
        code=questionnaire.code,
        version=questionnaire.version,
        title=in_language(questionnaire.titles, language),
        questions=[
            AskedQuestion(
                key=question.key,
                text=in_language(question.texts, language),
                options=[
                    Option(answer.value, in_language(answer.texts, language))
                    for answer in scales[question.scale].answers
                ],
                chosen=typed.get(f"q.{question.key}", ""),
                problem=problems.get(question.key, ""),
            )
            for question in questionnaire.questions
            if question.scale in scales
        ],
    )


def answers_of(posted: dict[str, str]) -> dict[str, str]:
    """The answers a form posted (fields `q.<key>`), the unanswered left out."""
    return {
        key.removeprefix("q."): value
        for key, value in posted.items()
        if key.startswith("q.") and value
    }


def local_input(at: datetime, zone: str) -> str:
    """A moment as a datetime-local field's value at the clinic (YYYY-MM-DDTHH:MM)."""
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def parse_local(value: str, zone: str) -> datetime | None:
    """A datetime-local field's value as a moment at the clinic, or None if it is not one."""
    try:
        local = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if local.tzinfo is not None:
        return None
    return local.replace(tzinfo=ZoneInfo(zone))
