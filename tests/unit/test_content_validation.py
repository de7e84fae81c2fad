"""Curriculum validation: every problem is found, and each names its file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmt import app as mmt
from services.content.service.importer import read_documents, to_yaml
from services.content.service.problems import load_yaml
from services.content.service.validation import validate_document
from shared.stigma import StigmaList, StigmaSettings
from tests.unit.test_content_samples import CORE, MAINTENANCE, write

STIGMA = StigmaList.from_settings(StigmaSettings())
LONG_ZH = "今" * 135  # 135 UCS-2 characters: three segments


def problems(text: str, **kwargs: object) -> list[str]:
    data, source, unreadable = load_yaml(text, "core.yaml")
    if unreadable:
        return [str(p) for p in unreadable]
    document, found = validate_document(data, source, stigma=STIGMA, **kwargs)  # type: ignore[arg-type]
    assert (document is None) == bool(found)
    return [str(p) for p in found]


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle`."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[occurrence - 1]


def changed(old: str, new: str, occurrence: int = 1) -> str:
    """CORE with the n-th `old` replaced by `new`."""
    parts = CORE.split(old)
    assert len(parts) > occurrence, old
    return old.join(parts[:occurrence]) + new + old.join(parts[occurrence:])


def test_a_notification_over_two_segments_is_refused_with_file_line_and_field() -> None:
    text = changed("今天的健康小课已准备好，点开看看。", LONG_ZH)
    line = line_of(text, LONG_ZH)
    assert problems(text) == [
        f"core.yaml:{line}: modules[0].lessons[0].translations.zh-CN.notification: "
        "3 SMS segments (max 2): 135 UCS-2 characters"
    ]


def test_a_stigmatising_word_is_refused_in_either_language() -> None:
    text = changed("新的一课：照顾好自己。", "该去美沙酮门诊了。")
    text = text.replace("A new lesson: looking after yourself.", "Your methadone is due.")
    assert problems(text) == [
        f"core.yaml:{line_of(text, '该去')}: modules[0].lessons[1].translations.zh-CN."
        'notification: contains "美沙酮门诊", which could out a patient on a lock screen',
        f"core.yaml:{line_of(text, 'methadone is due')}: modules[0].lessons[1].translations.en."
        'notification: contains "methadone", which could out a patient on a lock screen',
    ]


def test_a_missing_zh_cn_translation_is_named() -> None:
    text = changed(
        '          zh-CN:\n            title: "睡个好觉"',
        '          en:\n            title: "Sleep"',
    )
    line = line_of(text, "translations:", 3)
    assert problems(text) == [
        f"core.yaml:{line}: modules[1].lessons[0].translations.zh-CN: "
        "missing: every text needs a zh-CN version"
    ]


def test_a_missing_zh_cn_title_is_named() -> None:
    text = changed('titles: {zh-CN: "自我管理"}', 'titles: {en: "Self care"}')
    assert problems(text) == [
        f"core.yaml:{line_of(text, 'Self care')}: modules[1].titles.zh-CN: "
        "missing: every text needs a zh-CN version"
    ]


def test_invalid_yaml_names_the_line() -> None:
    text = CORE.replace("  lessons_per_week: 3", "  lessons_per_week: [3")
    (problem,) = problems(text)
    assert problem.startswith("core.yaml:")
    assert "invalid YAML" in problem


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = changed("今天的健康小课已准备好，点开看看。", LONG_ZH)
    text = text.replace("weekdays: [mon, wed, fri]", "weekdays: [mon, wed, fry]")
    text = text.replace("key: sleep-well", "key: daily-dose")
    text = text.replace('time: "19:00"', "time: 19:00")
    found = problems(text)
    assert found == [
        f"core.yaml:{line_of(text, 'fry')}: track.weekdays[2]: "
        "'fry' is not one of mon, tue, wed, thu, fri, sat, sun",
        f"core.yaml:{line_of(text, 'time:')}: track.time: "
        'put the time in quotes, e.g. "19:00" (YAML read a number)',
        f"core.yaml:{line_of(text, LONG_ZH)}: modules[0].lessons[0].translations.zh-CN."
        "notification: 3 SMS segments (max 2): 135 UCS-2 characters",
        f"core.yaml:{line_of(text, 'key: daily-dose', 2)}: modules[1].lessons[0].key: "
        "lesson 'daily-dose' appears twice in the track",
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "        quiz_answer: 1\n",
            "",
            "modules[0].lessons[0].quiz_answer: missing: the lesson "
            "has a quiz, so say which option is right",
        ),
        (
            "quiz_answer: 1",
            "quiz_answer: 3",
            "modules[0].lessons[0].quiz_answer: 3 is not an option index (0 to 2)",
        ),
        (
            "quiz_answer: 1",
            "quiz_answer: one",
            "modules[0].lessons[0].quiz_answer: must be a whole number, not 'one'",
        ),
        (
            'options: ["不管它", "联系门诊", "加倍服用"]',
            'options: ["不管它", "联系门诊"]',
            "modules[0].lessons[0].quiz_answer: translations differ in how many options they "
            "offer (zh-CN has 2, en has 3)",
        ),
        (
            'options: ["不管它", "联系门诊", "加倍服用"]',
            'options: [yes, "联系门诊", "加倍服用"]',
            "modules[0].lessons[0].translations.zh-CN.quiz.options[0]: must be text "
            "(YAML read True: put the text in quotes)",
        ),
        (
            "lessons_per_week: 3",
            "lessons_per_week: 2",
            "track.weekdays: names 3 days but lessons_per_week is 2",
        ),
        (
            "lessons_per_week: 3",
            "lessons_per_week: 5",
            "track.lessons_per_week: must be 2 or 3, not 5",
        ),
        (
            "code: core",
            "code: Core",
            "track.code: 'Core' is not a valid track code ([a-z0-9-]{2,40})",
        ),
        (
            "code: self-care",
            "code: treatment",
            "modules[1].code: module 'treatment' appears twice in the track",
        ),
        (
            "        tags: [dosing]\n",
            "        tgas: [dosing]\n",
            "modules[0].lessons[0].tgas: "
            "unknown field (expected key, translations, tags, quiz_answer)",
        ),
        (
            'titles: {zh-CN: "治疗", en: "Treatment"}',
            'titles: {zh-CN: "治疗", fr: "Soins"}',
            "modules[0].titles.fr: unknown language 'fr' (use zh-CN, en)",
        ),
        (
            '            body: "睡前少看手机。"\n',
            "",
            "modules[1].lessons[0].translations.zh-CN.body: missing",
        ),
        (
            'body: "睡前少看手机。"',
            'body: "   "',
            "modules[1].lessons[0].translations.zh-CN.body: must not be empty",
        ),
        ("next: maintenance", "next: core", "track.next: a track cannot follow itself"),
        (
            '  time: "19:00"\n',
            '  time: "19:00"\n  time: "20:00"\n',
            "track.time: appears twice in the same mapping",
        ),
    ],
)
def test_each_rule_names_the_field(old: str, new: str, expected: str) -> None:
    found = problems(CORE.replace(old, new, 1))
    assert [p.split(": ", 1)[1] for p in found] == [expected]
    assert all(p.startswith("core.yaml:") for p in found)


def test_the_line_is_the_field_s_own_or_its_nearest_parent_s() -> None:
    text = CORE.replace('            body: "睡前少看手机。"\n', "")
    (problem,) = problems(text)
    # The body is missing: the line is that of its translation.
    assert problem.startswith(f"core.yaml:{line_of(text, '睡个好觉') - 1}: ")


def test_a_draft_may_be_empty_but_a_published_track_needs_lessons() -> None:
    empty = CORE.split("modules:")[0] + 'modules:\n  - code: empty\n    titles: {zh-CN: "空"}\n'
    assert problems(empty, complete=False) == []
    assert problems(empty) == [
        f"core.yaml:{line_of(empty, 'code: empty')}: modules[0].lessons: "
        "a published module needs at least a lesson"
    ]


def test_next_must_name_a_known_track_when_the_tracks_are_known() -> None:
    assert problems(CORE, known_tracks={"core", "maintenance"}) == []
    assert problems(CORE, known_tracks={"core"}) == [
        f"core.yaml:{line_of(CORE, 'next:')}: track.next: no track 'maintenance': import or "
        "create it first (or in the same run)"
    ]


def test_files_are_checked_together(tmp_path: Path) -> None:
    write(tmp_path, "core.yaml", CORE)
    _, found = read_documents([tmp_path], known_tracks={})
    assert [str(p) for p in found] == [
        f"{tmp_path}/core.yaml:{line_of(CORE, 'next:')}: track.next: no track 'maintenance': "
        "import or create it first (or in the same run)"
    ]
    write(tmp_path, "maintenance.yaml", MAINTENANCE)
    write(tmp_path, "again.yml", MAINTENANCE)
    write(tmp_path, "notes.txt", "not a track")
    documents, found = read_documents([tmp_path], known_tracks={})
    # A folder gives its YAML files in name order (notes.txt is not one).
    names = [name.removeprefix(f"{tmp_path}/") for name, _ in documents]
    assert names == ["again.yml", "core.yaml", "maintenance.yaml"]
    assert [str(p) for p in found] == [
        f"{tmp_path}/maintenance.yaml:2: track.code: track 'maintenance' is also in "
        f"{tmp_path}/again.yml"
    ]
    empty = write(tmp_path, "empty.yaml", "")
    assert [str(p) for p in read_documents([empty])[1]] == [f"{empty}: the file is empty"]
    (gone,) = read_documents([tmp_path / "gone.yaml"])[1]
    assert str(gone).startswith(f"{tmp_path}/gone.yaml: cannot read")


def test_export_quotes_what_yaml_would_misread() -> None:
    text = CORE.replace(
        'options: ["不管它", "联系门诊", "加倍服用"]', 'options: ["yes", "no", "19:00"]'
    )
    text = text.replace('title: "睡个好觉"', 'title: "null"')
    data, source, _ = load_yaml(text, "core.yaml")
    document, found = validate_document(data, source)
    assert found == []
    assert document is not None
    again, _, _ = load_yaml(to_yaml(document), "export.yaml")
    assert validate_document(again)[0] == document


def test_mmt_content_check_needs_no_database_and_exits_1_listing_problems(tmp_path: Path) -> None:
    runner = CliRunner()
    for command in (
        ["content"],
        ["content", "check"],
        ["content", "import"],
        ["content", "export"],
    ):
        assert "Usage" in runner.invoke(mmt, [*command, "--help"]).output
    write(tmp_path, "core.yaml", CORE.replace("lessons_per_week: 3", "lessons_per_week: 4"))
    write(tmp_path, "maintenance.yaml", MAINTENANCE)
    refused = runner.invoke(mmt, ["content", "check", str(tmp_path)])
    assert refused.exit_code == 1
    assert refused.output.splitlines() == [
        f"{tmp_path}/core.yaml:{line_of(CORE, 'lessons_per_week')}: track.lessons_per_week: "
        "must be 2 or 3, not 4",
        "not valid: 1 problem",
    ]
    write(tmp_path, "core.yaml", CORE)
    assert runner.invoke(mmt, ["content", "check", str(tmp_path)]).exit_code == 0


def test_a_tracks_audience_is_patients_or_staff_and_defaults_to_patients() -> None:
    data, _, _ = load_yaml(CORE, "core.yaml")
    document, found = validate_document(data)
    assert found == []
    assert document is not None
    assert document.track.audience == "patients"
    data["track"]["audience"] = "family"
    _, found = validate_document(data)
    assert [(p.field, p.message) for p in found] == [
        ("track.audience", "must be one of patients, staff, not 'family'")
    ]


def test_every_shipped_curriculum_file_is_valid_and_staff_training_has_eight_lessons() -> None:
    folder = Path(__file__).resolve().parents[2] / "curriculum"
    documents, found = read_documents(sorted(folder.glob("*.yaml")), known_tracks={})
    assert found == []
    audiences = {d.track.code: d.track.audience for _name, d in documents}
    assert audiences == {"core": "patients", "maintenance": "patients", "staff-training": "staff"}
    (staff,) = [d for _name, d in documents if d.track.audience == "staff"]
    lessons = [lesson for _module, lesson in staff.lessons()]
    assert len(lessons) >= 8
    assert all(set(x.translations) == {"zh-CN", "en"} for x in lessons)
    assert all(x.quiz_answer is not None for x in lessons)  # the providers' knowledge quiz
