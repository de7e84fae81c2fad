"""Assessment questionnaires as data: what a definition may say, its validation, scoring.

A questionnaire (a YAML file under `assessments/`, or the same data sent to the API) has the
risk instruments' header (code, version, titles), its answer scales, its questions and its
scores. It is checked by the risk instruments' checker, extended (risk_definition.py,
shared.yaml_checks): every problem at once, each with its file, line and field. The format
is in assessments/README.md.

Scales are `likert` (ordered answers with points; a question may be reverse-scored) or
`choice` (answers without meaningful points; a knowledge question names its `correct`
answer). A score is a `sum` or a `mean` of likert questions (a mean may be multiplied, as
the TCU scales report mean x 10), or an `awareness`: the share of questions answered
correctly. A question left unanswered is missing: a score stands if at most `missing.max`
of its questions are missing, a sum prorated to all of them; beyond that it is missing too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from services.scheduler.risk_definition import CODE, Answer, InstrumentChecker
from shared.errors import InvalidInput
from shared.yaml_checks import MISSING
from shared.yaml_problems import Path, Problem, Source

ScaleKind = Literal["likert", "choice"]
Method = Literal["sum", "mean", "awareness"]
SCALE_KINDS: tuple[ScaleKind, ...] = ("likert", "choice")
METHODS: tuple[Method, ...] = ("sum", "mean", "awareness")
_QUESTION_LIMIT = 300
_TEXT_LIMIT = 200
_MAX_QUESTIONS = 80
_MAX_MULTIPLY = 100


class AnswerRefused(InvalidInput):
    """An answer not among its question's (or to no question): 422, naming each question."""

    status_code = 422


class Scale(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    kind: ScaleKind
    answers: list[Answer]

    def reversed_points(self, points: int) -> int:
        """A reverse-scored answer's points: the lowest and highest swap places."""
        values = [answer.points for answer in self.answers]
        return min(values) + max(values) - points


class Question(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    scale: str
    texts: dict[str, str]
    reverse: bool = False  # likert only
    correct: str | None = None  # choice only: the right answer of a knowledge question


class ScoreRule(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    texts: dict[str, str]
    method: Method
    questions: list[str]
    max_missing: int = 0  # a score stands with at most this many questions unanswered
    multiply: int = 1  # a mean's factor


Scores = dict[str, float | None]  # score key -> value, None when too much is missing


class Questionnaire(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    version: int
    titles: dict[str, str]
    scales: list[Scale]
    questions: list[Question]
    scores: list[ScoreRule]

    def check(self, answers: Mapping[str, str | None]) -> dict[str, str]:
        """The answers given (a missing one is left out), or AnswerRefused naming each
        question answered out of its scale, or unknown."""
        scales = {scale.key: scale for scale in self.scales}
        known = {question.key: question for question in self.questions}
        problems = [
            f"answers.{key}: not a question of {self.code!r}" for key in answers if key not in known
        ]
        given: dict[str, str] = {}
        for question in self.questions:
            value = answers.get(question.key)
            if value is None or value == "":
                continue
            allowed = [answer.value for answer in scales[question.scale].answers]
            if value not in allowed:
                problems.append(
                    f"answers.{question.key}: {value!r} is not one of {', '.join(allowed)}"
                )
                continue
            given[question.key] = value
        if problems:
            raise AnswerRefused("; ".join(problems))
        if not given:
            raise AnswerRefused("answers: no question is answered")
        return given

    def score(self, answers: Mapping[str, str]) -> Scores:
        """Every score of checked answers (`check`)."""
        scales = {scale.key: scale for scale in self.scales}
        known = {question.key: question for question in self.questions}
        out: Scores = {}
        for rule in self.scores:
            answered = [key for key in rule.questions if key in answers]
            if not answered or len(rule.questions) - len(answered) > rule.max_missing:
                out[rule.key] = None
                continue
            if rule.method == "awareness":
                right = sum(answers[key] == known[key].correct for key in answered)
                out[rule.key] = round(right / len(answered), 4)
                continue
            total = 0
            for key in answered:
                question = known[key]
                scale = scales[question.scale]
                points = next(a.points for a in scale.answers if a.value == answers[key])
                total += scale.reversed_points(points) if question.reverse else points
            if rule.method == "sum":
                out[rule.key] = round(total * len(rule.questions) / len(answered), 2)
            else:
                out[rule.key] = round(total * rule.multiply / len(answered), 2)
        return out


class _QuestionnaireChecker(InstrumentChecker):
    # Keys declared by an entry that had a problem of its own: a reference to one is not
    # reported again (one wrong scale would otherwise fail every question on it).
    declared: set[str]

    def questionnaire(self, data: Any) -> Questionnaire | None:
        self.declared = set()
        top = self.mapping(data, (), ("instrument", "scales", "questions", "scores"))
        if top is None:
            return None
        head = self.header(top.get("instrument", MISSING))
        scales = self.scales(top.get("scales", MISSING))
        questions = self.questions(top.get("questions", MISSING), scales or {})
        scores = self.scores(top.get("scores", MISSING), questions or {}, scales or {})
        if self.problems or head is None or not scales or not questions or not scores:
            return None
        code, version, titles = head
        return Questionnaire(
            code=code,
            version=version,
            titles=titles,
            scales=list(scales.values()),
            questions=list(questions.values()),
            scores=scores,
        )

    def _key(
        self, entry: dict[str, Any], path: Path, seen: Mapping[str, Any], what: str
    ) -> str | None:
        key = self.code(entry.get("key", MISSING), (*path, "key"), CODE, f"{what} key")
        if isinstance(key, str):
            self.declared.add(f"{what}:{key}")
        if key is not None and key in seen:
            self.fail((*path, "key"), f"{what} {key!r} appears twice")
            return None
        return key

    def scales(self, value: Any) -> dict[str, Scale] | None:
        listed = self.sequence(value, ("scales",), "scales", 1, 10)
        if listed is None:
            return None
        scales: dict[str, Scale] = {}
        for index, raw in enumerate(listed):
            path: Path = ("scales", index)
            entry = self.mapping(raw, path, ("key", "kind", "answers"))
            if entry is None:
                continue
            key = self._key(entry, path, scales, "scale")
            kind = entry.get("kind", MISSING)
            if kind is not MISSING and kind not in SCALE_KINDS:
                self.fail((*path, "kind"), f"{kind!r} is not one of {', '.join(SCALE_KINDS)}")
            answers = self.answers(
                entry.get("answers", MISSING), (*path, "answers"), kind == "likert"
            )
            if key is not None and kind in SCALE_KINDS and answers is not None:
                scales[key] = Scale(key=key, kind=kind, answers=answers)
        return scales

    def questions(self, value: Any, scales: Mapping[str, Scale]) -> dict[str, Question] | None:
        listed = self.sequence(value, ("questions",), "questions", 1, _MAX_QUESTIONS)
        if listed is None:
            return None
        questions: dict[str, Question] = {}
        for index, raw in enumerate(listed):
            path: Path = ("questions", index)
            entry = self.mapping(raw, path, ("key", "scale", "texts"), ("reverse", "correct"))
            if entry is None:
                continue
            key = self._key(entry, path, questions, "question")
            texts = self.texts(entry.get("texts", MISSING), (*path, "texts"), _QUESTION_LIMIT)
            scale = self._scale_of(entry, path, scales)
            reverse = entry.get("reverse", False)
            if not isinstance(reverse, bool):
                self.fail((*path, "reverse"), f"must be true or false, not {reverse!r}")
            elif reverse and scale is not None and scale.kind != "likert":
                self.fail((*path, "reverse"), "only a likert question can be reverse-scored")
            correct = self._correct(entry.get("correct", MISSING), (*path, "correct"), scale)
            if correct is None and "correct" in entry:
                self.declared.add(f"correct:{key}")  # wrong, and reported: not again
            if key is not None and texts is not None and scale is not None:
                questions[key] = Question(
                    key=key, scale=scale.key, texts=texts, reverse=reverse is True, correct=correct
                )
        return questions

    def _scale_of(
        self, entry: dict[str, Any], path: Path, scales: Mapping[str, Scale]
    ) -> Scale | None:
        name = entry.get("scale", MISSING)
        if name is MISSING:
            return None
        if name not in scales:
            if f"scale:{name}" in self.declared:
                return None
            self.fail((*path, "scale"), f"{name!r} is not a scale of this questionnaire")
            return None
        return scales[name]

    def _correct(self, value: Any, path: Path, scale: Scale | None) -> str | None:
        if value is MISSING or scale is None:
            return None
        allowed = [answer.value for answer in scale.answers]
        if isinstance(value, bool):
            self.fail(path, f"YAML read {value!r}: put the answer in quotes")
        elif scale.kind != "choice":
            self.fail(path, "only a choice question has a correct answer")
        elif value not in allowed:
            self.fail(path, f"{value!r} is not one of {', '.join(allowed)}")
        else:
            return str(value)
        return None

    def scores(
        self, value: Any, questions: Mapping[str, Question], scales: Mapping[str, Scale]
    ) -> list[ScoreRule] | None:
        listed = self.sequence(value, ("scores",), "scores", 1, 20)
        if listed is None:
            return None
        rules: dict[str, ScoreRule] = {}
        for index, raw in enumerate(listed):
            path: Path = ("scores", index)
            entry = self.mapping(
                raw, path, ("key", "texts", "method", "questions"), ("missing", "multiply")
            )
            if entry is None:
                continue
            key = self._key(entry, path, rules, "score")
            texts = self.texts(entry.get("texts", MISSING), (*path, "texts"), _TEXT_LIMIT)
            method = entry.get("method", MISSING)
            if method is not MISSING and method not in METHODS:
                self.fail((*path, "method"), f"{method!r} is not one of {', '.join(METHODS)}")
                method = MISSING
            keys = self._score_questions(
                entry.get("questions", MISSING), path, method, questions, scales
            )
            most = self._max_missing(entry.get("missing", MISSING), path, keys)
            multiply = self.integer(entry.get("multiply", 1), (*path, "multiply"))
            if "multiply" in entry and multiply is not None and method != "mean":
                self.fail((*path, "multiply"), "only a mean is multiplied")
            elif multiply is not None and not 1 <= multiply <= _MAX_MULTIPLY:
                self.fail((*path, "multiply"), f"must be from 1 to {_MAX_MULTIPLY}")
            if key is None or texts is None or keys is None or method is MISSING:
                continue
            if most is not None and multiply is not None:
                rules[key] = ScoreRule(
                    key=key,
                    texts=texts,
                    method=method,
                    questions=keys,
                    max_missing=most,
                    multiply=multiply,
                )
        return list(rules.values())

    def _score_questions(
        self,
        value: Any,
        path: Path,
        method: Any,
        questions: Mapping[str, Question],
        scales: Mapping[str, Scale],
    ) -> list[str] | None:
        at: Path = (*path, "questions")
        listed = self.sequence(value, at, "question keys", 1, _MAX_QUESTIONS)
        if listed is None:
            return None
        keys: list[str] = []
        for index, key in enumerate(listed):
            question = questions.get(key) if isinstance(key, str) else None
            if question is None and f"question:{key}" in self.declared:
                return None
            if question is None:
                self.fail((*at, index), f"{key!r} is not a question of this questionnaire")
            elif key in keys:
                self.fail((*at, index), f"{key!r} appears twice")
            elif method == "awareness" and question.correct is None:
                if f"correct:{key}" in self.declared:
                    return None
                self.fail((*at, index), f"{key!r} has no correct answer to count")
            elif method in ("sum", "mean") and scales[question.scale].kind != "likert":
                self.fail((*at, index), f"{key!r} is not a likert question: it has no points")
            else:
                keys.append(key)
        return keys if len(keys) == len(listed) else None

    def _max_missing(self, value: Any, path: Path, keys: list[str] | None) -> int | None:
        if value is MISSING:
            return 0
        entry = self.mapping(value, (*path, "missing"), ("max",))
        if entry is None:
            return None
        most = self.integer(entry.get("max", MISSING), (*path, "missing", "max"))
        if most is not None and keys is not None and not 0 <= most < len(keys):
            self.fail((*path, "missing", "max"), f"must be from 0 to {len(keys) - 1}")
            return None
        return most


def validate_questionnaire(
    data: Any, source: Source | None = None
) -> tuple[Questionnaire | None, list[Problem]]:
    checker = _QuestionnaireChecker(source or Source())
    return checker.questionnaire(data), checker.problems


def decode_questionnaire(stored: Any) -> Questionnaire:
    """A questionnaire as stored (it was validated when loaded)."""
    return msgspec.convert(stored, Questionnaire)
