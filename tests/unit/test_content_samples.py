"""Small curriculum files the content tests share, and checks that they are what they claim.

`CORE` and `MAINTENANCE` are valid tracks (core is followed by maintenance); tests write
them to files and break them one way at a time.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from services.content.service.importer import to_yaml
from services.content.service.problems import load_yaml
from services.content.service.validation import validate_document

CORE = """\
track:
  code: core
  titles: {zh-CN: "核心课程", en: "Core course"}
  lessons_per_week: 3
  weekdays: [mon, wed, fri]
  time: "19:00"
  next: maintenance
modules:
  - code: treatment
    titles: {zh-CN: "治疗", en: "Treatment"}
    lessons:
      - key: daily-dose
        tags: [dosing]
        quiz_answer: 1
        translations:
          zh-CN:
            title: "每天按时服药"
            notification: "今天的健康小课已准备好，点开看看。"
            body: |
              每天在同一时间来服药。

              如果错过了，请联系门诊。
            quiz: {question: "错过一次应该怎么办？", options: ["不管它", "联系门诊", "加倍服用"]}
          en:
            title: "Every day, on time"
            notification: "Your health lesson for today is ready."
            body: |
              Come for your dose at the same time every day.

              If you miss one, call the clinic.
            quiz:
              question: "What should you do after a missed day?"
              options: ["Nothing", "Call the clinic", "Take twice as much"]
      - key: side-effects
        tags: [dosing, health]
        translations:
          zh-CN:
            title: "常见的不适"
            notification: "新的一课：照顾好自己。"
            body: "出汗和便秘很常见，多喝水。"
          en:
            title: "Common discomforts"
            notification: "A new lesson: looking after yourself."
            body: "Sweating and constipation are common; drink water."
  - code: self-care
    titles: {zh-CN: "自我管理"}
    lessons:
      - key: sleep-well
        translations:
          zh-CN:
            title: "睡个好觉"
            notification: "新的一课：好好休息。"
            body: "睡前少看手机。"
"""

MAINTENANCE = """\
track:
  code: maintenance
  titles: {zh-CN: "巩固课程", en: "Maintenance"}
  lessons_per_week: 2
  weekdays: [tue, thu]
  time: "20:30"
modules:
  - code: keep-going
    titles: {zh-CN: "坚持", en: "Keep going"}
    lessons:
      - key: keep-going
        translations:
          zh-CN:
            title: "坚持下去"
            notification: "新的一课已准备好。"
            body: "每一天都算数。"
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_samples_are_valid_and_export_reads_back_the_same() -> None:
    for name, text in (("core.yaml", CORE), ("maintenance.yaml", MAINTENANCE)):
        data, source, unreadable = load_yaml(text, name)
        assert unreadable == []
        document, problems = validate_document(data, source, known_tracks={"maintenance"})
        assert problems == []
        assert document is not None
        again, _, _ = load_yaml(to_yaml(document), name)
        assert validate_document(again)[0] == document


def test_the_core_sample_is_normalised_as_documented() -> None:
    data, source, _ = load_yaml(CORE, "core.yaml")
    document, _ = validate_document(data, source)
    assert document is not None
    first = document.modules[0].lessons[0].translations["zh-CN"]
    assert first.body == "每天在同一时间来服药。\n\n如果错过了，请联系门诊。"  # trailing \n gone
    assert [lesson.key for _, lesson in document.lessons()] == [
        "daily-dose",
        "side-effects",
        "sleep-well",
    ]
    assert msgspec.to_builtins(document)["track"]["next"] == "maintenance"
