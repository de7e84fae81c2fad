"""Survey definitions: questions with answer types, by language, and how one is asked.

A question is sent alone, as one message, and answered by a reply: a digit for `scale`
(1-5) and `choice` (1-n) questions, any words for `text` ones. The built-in surveys (lesson
helpfulness, the Yuxi evaluation, the provider-interaction questionnaire) live here, in
code, so every installation has them the same; clinics and studies add their own through
the API (stored in `survey_definitions`, validated by the same rules). Their words, and
every survey's hints and answers, are the `patient` catalog's `survey.*` (shared/locale,
shared/i18n.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from shared.errors import InvalidInput
from shared.i18n import by_language, texts
from shared.sms import segments
from shared.stigma import find_stigma

LANGUAGES = ("zh-CN", "en")
SCALE_MAX = 5
MAX_OPTIONS = 9  # one digit each
MAX_SEGMENTS = 2  # a question, its options and its progress mark: at most two SMS

Key = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Option = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class Question(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    key: Key
    type: Literal["scale", "choice", "text"]
    text: dict[str, Text]  # by language; zh-CN always
    options: dict[str, list[Option]] = {}  # choice questions: the same count in each language

    def accepts(self, value: int) -> bool:
        return 1 <= value <= self.highest()

    def highest(self) -> int:
        if self.type == "scale":
            return SCALE_MAX
        return len(self.options.get("zh-CN", []))


class Survey(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    key: Key
    title: dict[str, Text]
    questions: Annotated[list[Question], msgspec.Meta(min_length=1, max_length=12)]


def language_of(language: str) -> str:
    return language if language in LANGUAGES else "zh-CN"


def render(survey: Survey, index: int, language: str) -> str:
    """Question `index` as one message: progress, the question, how to answer."""
    lang = language_of(language)
    question = survey.questions[index]
    text = question.text.get(lang) or question.text["zh-CN"]
    choices = question.options.get(lang) or question.options.get("zh-CN", [])
    options = " ".join(f"{n} {option}" for n, option in enumerate(choices, start=1))
    # `survey.question.<type>`: the question and how to answer it (shared/locale).
    asked = texts(lang)[f"survey.question.{question.type}"].format(question=text, options=options)
    progress = f"({index + 1}/{len(survey.questions)}) " if len(survey.questions) > 1 else ""
    return f"{progress}{asked}"


def thanks(language: str) -> str:
    return texts(language_of(language))["survey.thanks"]


def out_of_range(question: Question, language: str) -> str:
    return texts(language_of(language))["survey.out_of_range"].format(n=question.highest())


def validate(survey: Survey) -> None:
    """Every problem at once, by field, or nothing: the API answers 400 with the list."""
    problems: list[str] = []
    if "zh-CN" not in survey.title:
        problems.append("title: zh-CN is required")
    seen: set[str] = set()
    for number, question in enumerate(survey.questions, start=1):
        where = f"questions[{number}] ({question.key})"
        if question.key in seen:
            problems.append(f"{where}: duplicate key")
        seen.add(question.key)
        if "zh-CN" not in question.text:
            problems.append(f"{where}.text: zh-CN is required")
        for language in [*question.text, *question.options]:
            if language not in LANGUAGES:
                problems.append(f"{where}: unknown language {language!r}")
        if question.type == "choice":
            counts = {len(options) for options in question.options.values()}
            if "zh-CN" not in question.options or len(counts) != 1:
                problems.append(f"{where}.options: zh-CN required, same count per language")
            elif not 2 <= counts.pop() <= MAX_OPTIONS:
                problems.append(f"{where}.options: 2 to {MAX_OPTIONS} options")
        elif question.options:
            problems.append(f"{where}.options: only choice questions have options")
        options = [option for choices in question.options.values() for option in choices]
        for words in [*question.text.values(), *options]:
            for word in find_stigma(words):
                problems.append(f"{where}: {word!r} must not appear (lock screens are read)")
    if not problems:
        for index, question in enumerate(survey.questions):
            for language in question.text:
                if language in LANGUAGES and segments(render(survey, index, language)) > 2:
                    problems.append(
                        f"questions[{index + 1}] ({question.key}), {language}: more than "
                        f"{MAX_SEGMENTS} SMS segments with its options"
                    )
    if problems:
        raise InvalidInput("; ".join(problems))


LESSON_HELPFULNESS = "lesson_helpfulness"
YUXI_EVALUATION = "yuxi_evaluation"
PROVIDER_INTERACTION = "provider_interaction"
# Surveys whose answers no one reads one by one, only as aggregates over enough patients
# (reports/provider_interaction.py): clients rate the staff who would read them.
ANONYMOUS = frozenset({PROVIDER_INTERACTION})


def _question(
    survey: str, key: str, kind: Literal["scale", "choice"], options: int = 0
) -> Question:
    """A built-in question whose words are the catalog's `survey.<survey>.<key>` and, for a
    choice, `survey.<survey>.<key>.<1..options>`."""
    name = f"survey.{survey}.{key}"
    choices = [by_language(f"{name}.{n}") for n in range(1, options + 1)]
    by_lang = {language: [choice[language] for choice in choices] for language in LANGUAGES}
    return Question(key=key, type=kind, text=by_language(name), options=by_lang if options else {})


# Built when the module is imported: the catalog is read once, in milliseconds.
BUILT_IN: dict[str, Survey] = {
    LESSON_HELPFULNESS: Survey(
        key=LESSON_HELPFULNESS,
        title=by_language(f"survey.{LESSON_HELPFULNESS}.title"),
        questions=[_question(LESSON_HELPFULNESS, "helpful", "scale")],
    ),
    # The Yuxi account's evaluation: how often used, helpful, preferred frequency, what
    # motivates, would recommend.
    YUXI_EVALUATION: Survey(
        key=YUXI_EVALUATION,
        title=by_language(f"survey.{YUXI_EVALUATION}.title"),
        questions=[
            _question(YUXI_EVALUATION, "usage", "choice", options=4),
            _question(YUXI_EVALUATION, "helpful", "scale"),
            _question(YUXI_EVALUATION, "frequency", "choice", options=4),
            _question(YUXI_EVALUATION, "motivation", "choice", options=5),
            _question(YUXI_EVALUATION, "recommend", "scale"),
        ],
    ),
    # MMT CARE: clients rate how the staff who talk with them treat them, the spirit of
    # motivational interviewing (listening, respect, clarity, their own plan, coming back).
    PROVIDER_INTERACTION: Survey(
        key=PROVIDER_INTERACTION,
        title=by_language(f"survey.{PROVIDER_INTERACTION}.title"),
        questions=[
            _question(PROVIDER_INTERACTION, item, "scale")
            for item in ("listened", "respect", "clear", "own_plan", "again")
        ],
    ),
}
