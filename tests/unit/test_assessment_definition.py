"""Assessment questionnaires: the shipped ones are valid and score a full answer set to the
value worked out by hand; scoring rules (sums, subscales, reverse items, awareness, missing
answers with proration); bad definitions are refused naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]
from typer.testing import CliRunner

from mmt import app as mmt
from services.scheduler.assessment_cli import read_questionnaires
from services.scheduler.assessment_definition import Questionnaire, validate_questionnaire
from shared.errors import InvalidInput

SHIPPED = Path(__file__).parents[2] / "assessments"

GOOD = """\
instrument:
  code: short-form
  version: 1
  titles: {zh-CN: "简表", en: "Short form"}
scales:
  - key: agree
    kind: likert
    answers:
      - {value: "1", points: 1, texts: {zh-CN: "不同意", en: "Disagree"}}
      - {value: "2", points: 2, texts: {zh-CN: "一般", en: "Neither"}}
      - {value: "3", points: 3, texts: {zh-CN: "同意", en: "Agree"}}
  - key: tf
    kind: choice
    answers:
      - {value: "true", texts: {zh-CN: "对", en: "True"}}
      - {value: "false", texts: {zh-CN: "错", en: "False"}}
      - {value: "unknown", texts: {zh-CN: "不知道", en: "Don't know"}}
questions:
  - {key: a1, scale: agree, texts: {zh-CN: "甲一", en: "A one"}}
  - {key: a2, scale: agree, texts: {zh-CN: "甲二", en: "A two"}}
  - {key: a3, scale: agree, reverse: true, texts: {zh-CN: "甲三", en: "A three"}}
  - {key: b1, scale: agree, texts: {zh-CN: "乙一", en: "B one"}}
  - {key: k1, scale: tf, correct: "true", texts: {zh-CN: "知一", en: "K one"}}
  - {key: k2, scale: tf, correct: "false", texts: {zh-CN: "知二", en: "K two"}}
  - {key: k3, scale: tf, correct: "true", texts: {zh-CN: "知三", en: "K three"}}
  - {key: k4, scale: tf, correct: "false", texts: {zh-CN: "知四", en: "K four"}}
scores:
  - key: sub-a
    texts: {zh-CN: "甲", en: "A"}
    method: sum
    questions: [a1, a2, a3]
    missing: {max: 1}
  - key: total
    texts: {zh-CN: "总分", en: "Total"}
    method: sum
    questions: [a1, a2, a3, b1]
  - key: mean-a
    texts: {zh-CN: "甲均分", en: "A mean"}
    method: mean
    multiply: 10
    questions: [a1, a2, a3]
    missing: {max: 1}
  - key: aware
    texts: {zh-CN: "知晓率", en: "Awareness"}
    method: awareness
    questions: [k1, k2, k3, k4]
    missing: {max: 1}
"""


def _form(text: str = GOOD) -> Questionnaire:
    questionnaire, problems = validate_questionnaire(yaml.safe_load(text))
    assert problems == []
    assert questionnaire is not None
    return questionnaire


def _scores(answers: dict[str, str | None], form: Questionnaire | None = None) -> dict[str, object]:
    form = form or _form()
    return dict(form.score(form.check(answers)))


FULL: dict[str, str | None] = {
    "a1": "3", "a2": "2", "a3": "1", "b1": "2",
    "k1": "true", "k2": "unknown", "k3": "true", "k4": "true",
}  # fmt: skip


def test_sums_subscales_reverse_items_means_and_awareness() -> None:
    # a3 is reverse-scored: "1" scores 1 + 3 - 1 = 3. sub-a = 3 + 2 + 3 = 8; total adds b1 (2);
    # mean-a = 8 / 3 x 10; two of four knowledge answers are right ("unknown" is not).
    assert _scores(FULL) == {"sub-a": 8.0, "total": 10.0, "mean-a": 26.67, "aware": 0.5}


def test_a_missing_answer_within_the_limit_is_prorated_and_beyond_it_the_score_is_missing() -> None:
    one_missing = {**FULL, "a2": None, "k4": None}
    # sub-a: (3 + 3) x 3 / 2 = 9; total allows none missing; mean-a of the two answered:
    # 6 / 2 x 10; awareness of the three answered: k1 and k3 right.
    assert _scores(one_missing) == {"sub-a": 9.0, "total": None, "mean-a": 30.0, "aware": 0.6667}
    two_missing = {key: value for key, value in FULL.items() if key not in ("a1", "a2", "k1", "k2")}
    assert _scores(two_missing) == {"sub-a": None, "total": None, "mean-a": None, "aware": None}


def test_answers_out_of_range_are_refused_naming_each_question() -> None:
    with pytest.raises(InvalidInput) as refused:
        _form().check({"a1": "4", "k1": "yes", "zz": "1"})
    message = str(refused.value)
    assert "answers.zz: not a question of 'short-form'" in message
    assert "answers.a1: '4' is not one of 1, 2, 3" in message
    assert "answers.k1: 'yes' is not one of true, false, unknown" in message
    with pytest.raises(InvalidInput, match="no question is answered"):
        _form().check({"a1": None})


# Each shipped questionnaire, a full answer set, and its scores worked out by hand.
SHIPPED_CASES = [
    (
        "treatment-motivation",
        {
            # problem recognition: 5 4 4 3 and pr-5 reversed (6 - 2 = 4): 20 / 5 x 10 = 40
            "pr-1": "5", "pr-2": "4", "pr-3": "4", "pr-4": "3", "pr-5": "2",
            # desire for help: 4 5 3 4 and dh-5 reversed (6 - 1 = 5): 21 / 5 x 10 = 42
            "dh-1": "4", "dh-2": "5", "dh-3": "3", "dh-4": "4", "dh-5": "1",
            # readiness: 5 5 4 4 and tr-5 reversed (6 - 4 = 2): 20 / 5 x 10 = 40
            "tr-1": "5", "tr-2": "5", "tr-3": "4", "tr-4": "4", "tr-5": "4",
            # external pressure: 2 1 3 1 = 7 / 4 x 10 = 17.5
            "ep-1": "2", "ep-2": "1", "ep-3": "3", "ep-4": "1",
        },
        {
            "problem-recognition": 40.0,
            "desire-for-help": 42.0,
            "treatment-readiness": 40.0,
            "external-pressure": 17.5,
            "motivation": 40.67,  # (20 + 21 + 20) / 15 x 10
        },
    ),
    (
        # keys T F T F T T F T: all right but the 2nd (don't know) and the 7th: 6 / 8
        "methadone-knowledge",
        {f"methadone-{i}": v for i, v in enumerate(
            ["true", "unknown", "true", "false", "true", "true", "true", "true"], 1)},
        {"awareness": 0.75},
    ),
    (
        # keys T F F T T T F T, every answer "true": 5 / 8
        "hiv-knowledge",
        {f"hiv-{i}": "true" for i in range(1, 9)},
        {"awareness": 0.625},
    ),
    (
        # keys T F T F T T F, six answered right and the 7th left out (one may be): 6 / 6
        "hcv-knowledge",
        {f"hcv-{i}": v for i, v in enumerate(
            ["true", "false", "true", "false", "true", "true"], 1)},
        {"awareness": 1.0},
    ),
    (
        # keys T T F T F T T, every answer "false": 2 / 7
        "syphilis-knowledge",
        {f"syphilis-{i}": "false" for i in range(1, 8)},
        {"awareness": 0.2857},
    ),
    (
        # 3 + 3 + 4 + 2 + 1 + 4
        "medication-adherence",
        {
            "missed-7-days": "1", "forget": "rarely", "skip-feeling-well": "never",
            "skip-feeling-unwell": "sometimes", "kept-away": "often", "hard-to-keep": "never",
        },
        {"adherence": 17.0},
    ),
]  # fmt: skip


def _shipped() -> dict[str, Questionnaire]:
    found, problems = read_questionnaires([SHIPPED])
    assert problems == []
    return {questionnaire.code: questionnaire for _name, questionnaire in found}


def test_every_shipped_questionnaire_is_valid_in_both_languages() -> None:
    shipped = _shipped()
    assert sorted(shipped) == sorted(code for code, _answers, _scores in SHIPPED_CASES)
    for form in shipped.values():
        texts = [form.titles, *(q.texts for q in form.questions), *(s.texts for s in form.scores)]
        texts += [answer.texts for scale in form.scales for answer in scale.answers]
        assert all(set(text) == {"zh-CN", "en"} for text in texts), form.code
    knowledge = [code for code in shipped if code.endswith("-knowledge")]
    for code in knowledge:
        assert 5 <= len(shipped[code].questions) <= 10
        assert [rule.method for rule in shipped[code].scores] == ["awareness"]


@pytest.mark.parametrize(("code", "answers", "expected"), SHIPPED_CASES)
def test_each_shipped_questionnaire_scores_a_full_answer_set_as_worked_out_by_hand(
    code: str, answers: dict[str, str | None], expected: dict[str, float]
) -> None:
    assert _scores(answers, _shipped()[code]) == expected


def test_the_adherence_total_is_prorated_with_one_answer_missing_and_missing_with_two() -> None:
    form = _shipped()["medication-adherence"]
    answers = dict(SHIPPED_CASES[-1][1])
    del answers["hard-to-keep"]
    assert _scores(answers, form) == {"adherence": 15.6}  # 13 x 6 / 5
    del answers["forget"]
    assert _scores(answers, form) == {"adherence": None}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("version: 1", "version: 0"), "bad.yaml:3: instrument.version: must be from 1 to"),
        (("kind: likert", "kind: slider"), "bad.yaml:7: scales[0].kind: 'slider' is not one of"),
        (
            ('{value: "2", points: 2, ', '{value: "2", '),
            "bad.yaml:10: scales[0].answers[1].points: missing",
        ),
        (("key: a2, scale: agree", "key: a1, scale: agree"), "bad.yaml:20: questions[1].key:"),
        (("key: b1, scale: agree", "key: b1, scale: agreed"), "bad.yaml:22: questions[3].scale:"),
        (
            ('key: k1, scale: tf, correct: "true"',
             'key: k1, scale: tf, reverse: true, correct: "true"'),
            "bad.yaml:23: questions[4].reverse: only a likert question can be reverse-scored",
        ),
        (
            ("key: b1, scale: agree,", 'key: b1, scale: agree, correct: "1",'),
            "bad.yaml:22: questions[3].correct: only a choice question has a correct answer",
        ),
        (('correct: "false", texts: {zh-CN: "知二"', 'correct: "no", texts: {zh-CN: "知二"'),
         "bad.yaml:24: questions[5].correct: 'no' is not one of true, false, unknown"),
        (('correct: "false", texts: {zh-CN: "知二"', 'correct: false, texts: {zh-CN: "知二"'),
         "bad.yaml:24: questions[5].correct: YAML read False: put the answer in quotes"),
        (('{zh-CN: "甲一", en: "A one"}', '{en: "A one"}'),
         "bad.yaml:19: questions[0].texts.zh-CN"),
        (("questions: [a1, a2, a3]\n    missing: {max: 1}\n  - key: total",
          "questions: [a1, a9, a3]\n    missing: {max: 1}\n  - key: total"),
         "bad.yaml:31: scores[0].questions[1]: 'a9' is not a question"),
        (("questions: [a1, a2, a3, b1]", "questions: [a1, a2, k1, b1]"),
         "bad.yaml:36: scores[1].questions[2]: 'k1' is not a likert question"),
        (("questions: [k1, k2, k3, k4]", "questions: [k1, k2, k3, a1]"),
         "bad.yaml:46: scores[3].questions[3]: 'a1' has no correct answer"),
        (("missing: {max: 1}\n  - key: total", "missing: {max: 3}\n  - key: total"),
         "bad.yaml:32: scores[0].missing.max: must be from 0 to 2"),
        (("method: sum\n    questions: [a1, a2, a3, b1]",
          "method: sum\n    multiply: 10\n    questions: [a1, a2, a3, b1]"),
         "bad.yaml:36: scores[1].multiply: only a mean is multiplied"),
        (("method: awareness", "method: share"), "bad.yaml:45: scores[3].method: 'share' is not"),
        (("  - key: aware", "  - key: total"), "bad.yaml:43: scores[3].key: score 'total' appears"),
        (("scores:\n", "score:\n"), "bad.yaml:27: score: unknown field"),
    ],
)  # fmt: skip
def test_bad_definitions_are_refused_naming_file_line_and_field(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    assert change[0] in GOOD
    (tmp_path / "bad.yaml").write_text(GOOD.replace(change[0], change[1], 1), encoding="utf-8")
    found, problems = read_questionnaires([tmp_path / "bad.yaml"])
    assert found == []
    assert any(str(problem).startswith(f"{tmp_path}/{expected}") for problem in problems), [
        str(problem) for problem in problems
    ]


@pytest.mark.parametrize(
    "change",
    [
        ("kind: choice", "kind: pick"),  # every question on the scale, every score on them
        ('correct: "false", texts: {zh-CN: "知二"', 'correct: "no", texts: {zh-CN: "知二"'),
    ],
)
def test_one_wrong_entry_is_one_problem_not_one_for_each_reference(
    change: tuple[str, str],
) -> None:
    _form, problems = validate_questionnaire(yaml.safe_load(GOOD.replace(*change, 1)))
    assert len(problems) == 1, [str(problem) for problem in problems]


def test_mmt_assessment_check_and_import_refuse_bad_files_whole(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(mmt, ["assessment", "check", str(SHIPPED)]).exit_code == 0
    (tmp_path / "good.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "worse.yaml").write_text(GOOD.replace("kind: choice", "kind: pick"), "utf-8")
    for command in ("check", "import"):
        refused = runner.invoke(mmt, ["assessment", command, str(tmp_path)])
        assert refused.exit_code == 1
        assert f"{tmp_path}/worse.yaml:13: scales[1].kind: 'pick' is not one of" in refused.output
    assert "nothing imported: 1 problem" in refused.output
