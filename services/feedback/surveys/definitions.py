"""Survey definitions: questions with answer types, by language, and how one is asked.

A question is sent alone, as one message, and answered by a reply: a digit for `scale`
(1-5) and `choice` (1-n) questions, any words for `text` ones. The two built-in surveys
live here, in code, so every installation has them the same; clinics and studies add their
own through the API (stored in `survey_definitions`, validated by the same rules).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from shared.errors import InvalidInput
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


_HINT = {
    "zh-CN": {"scale": "（回复1-5）", "choice": "回复：", "text": "（请直接回复）"},
    "en": {"scale": " (reply 1-5)", "choice": " Reply: ", "text": " (reply in words)"},
}
_THANKS = {
    "zh-CN": "谢谢您的回答！",
    "en": "Thank you for your answers!",
}
_RANGE = {
    "zh-CN": "请回复1到{n}之间的数字。",
    "en": "Please reply with a number from 1 to {n}.",
}


def language_of(language: str) -> str:
    return language if language in LANGUAGES else "zh-CN"


def render(survey: Survey, index: int, language: str) -> str:
    """Question `index` as one message: progress, the question, how to answer."""
    lang = language_of(language)
    question = survey.questions[index]
    text = question.text.get(lang) or question.text["zh-CN"]
    hint = _HINT[lang][question.type]
    if question.type == "choice":
        options = question.options.get(lang) or question.options["zh-CN"]
        hint += " ".join(f"{n} {option}" for n, option in enumerate(options, start=1))
    progress = f"({index + 1}/{len(survey.questions)}) " if len(survey.questions) > 1 else ""
    return f"{progress}{text}{hint}"


def thanks(language: str) -> str:
    return _THANKS[language_of(language)]


def out_of_range(question: Question, language: str) -> str:
    return _RANGE[language_of(language)].format(n=question.highest())


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

BUILT_IN: dict[str, Survey] = {
    LESSON_HELPFULNESS: Survey(
        key=LESSON_HELPFULNESS,
        title={"zh-CN": "课程评价", "en": "Lesson rating"},
        questions=[
            Question(
                key="helpful",
                type="scale",
                text={
                    "zh-CN": "最近这一课对您有帮助吗？5=很有帮助",
                    "en": "Was the last lesson helpful? 5 = very",
                },
            )
        ],
    ),
    # The Yuxi account's evaluation: how often used, helpful, preferred frequency, what
    # motivates, would recommend.
    YUXI_EVALUATION: Survey(
        key=YUXI_EVALUATION,
        title={"zh-CN": "服务满意度调查", "en": "Service evaluation"},
        questions=[
            Question(
                key="usage",
                type="choice",
                text={
                    "zh-CN": "您多久看一次我们发的消息和课程？",
                    "en": "How often do you read our messages and lessons?",
                },
                options={
                    "zh-CN": ["每次都看", "经常", "有时", "很少"],
                    "en": ["always", "often", "sometimes", "rarely"],
                },
            ),
            Question(
                key="helpful",
                type="scale",
                text={
                    "zh-CN": "这项服务对您有帮助吗？1=没有，5=很有帮助",
                    "en": "Has this service helped you? 1 = not at all, 5 = very much",
                },
            ),
            Question(
                key="frequency",
                type="choice",
                text={
                    "zh-CN": "您希望多久收到一次课程？",
                    "en": "How often would you like a lesson?",
                },
                options={
                    "zh-CN": ["每周1次", "每周2次", "每周3次", "更多"],
                    "en": ["weekly", "twice a week", "3 times a week", "more"],
                },
            ),
            Question(
                key="motivation",
                type="choice",
                text={
                    "zh-CN": "什么最能鼓励您坚持下去？",
                    "en": "What most keeps you going?",
                },
                options={
                    "zh-CN": ["家人", "健康", "工作", "医生和门诊", "其他"],
                    "en": ["family", "health", "work", "clinic staff", "other"],
                },
            ),
            Question(
                key="recommend",
                type="scale",
                text={
                    "zh-CN": "您会把这项服务推荐给朋友吗？1=不会，5=一定会",
                    "en": "Would you recommend this service to a friend? 1 = no, 5 = surely",
                },
            ),
        ],
    ),
}
