"""What a reminder says: discreet by default, explicit only where the clinic opted in.

Discreet wording never names methadone, drugs or an illness: a lock screen can be read by
family or an employer. Texts are short enough for one SMS segment before a name or a link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from services.scheduler.record_reply import Record, record_text
from shared.channels.message_fields import message_fields

__all__ = ["Record", "Rendered", "render"]

_TEXTS: dict[tuple[str, str], dict[str, str]] = {
    ("dose", "discreet"): {
        "zh-CN": "{name}，今天记得按时来门诊。",
        "en": "{name}, a reminder about your visit today.",
    },
    ("dose", "explicit"): {
        "zh-CN": "{name}，今天记得按时到美沙酮门诊服药。",
        "en": "{name}, remember your methadone dose at the clinic today.",
    },
    ("urine_test", "discreet"): {
        "zh-CN": "{name}，今天记得到门诊做检查。",
        "en": "{name}, a reminder about your check-up at the clinic today.",
    },
    ("urine_test", "explicit"): {
        "zh-CN": "{name}，今天记得到美沙酮门诊做尿检。",
        "en": "{name}, your urine test at the methadone clinic is today.",
    },
    ("appointment", "discreet"): {
        "zh-CN": "{name}，今天你在门诊有预约。",
        "en": "{name}, you have an appointment at the clinic today.",
    },
    ("appointment", "explicit"): {
        "zh-CN": "{name}，今天你在美沙酮门诊有预约。",
        "en": "{name}, you have an appointment at the methadone clinic today.",
    },
    ("missed_dose", "discreet"): {
        "zh-CN": "{name}，昨天没见到你。今天来门诊好吗？需要帮助请回复“帮助”。",
        "en": "{name}, we missed you yesterday. Can you come by today? Reply HELP for support.",
    },
    ("missed_dose", "explicit"): {
        "zh-CN": "{name}，昨天你没有来服美沙酮。今天请来门诊，需要帮助请回复“帮助”。",
        "en": "{name}, you missed your methadone dose yesterday. Please come today. Reply HELP.",
    },
}


@dataclass(frozen=True)
class Rendered:
    text: str
    # For template channels (WeChat): the same content by name, plus a title and the local
    # time (shared/channels/message_fields.py), all discreet.
    fields: dict[str, str]


def render(
    kind: str,
    language: str,
    *,
    explicit: bool,
    name: str,
    lesson_notification: str | None = None,
    link: str | None = None,
    record: Record | None = None,
    survey_text: str | None = None,
    local: datetime | None = None,
) -> Rendered:
    """`local` is the moment of sending in the patient's time zone (default: now, UTC)."""
    at = local if local is not None else datetime.now(UTC)

    def rendered(text: str, summary: str, url: str | None = None) -> Rendered:
        fields = message_fields(kind, language, summary=summary, name=name, local=at, url=url)
        return Rendered(text, fields)

    if kind == "lesson":
        if lesson_notification is None or link is None:
            raise ValueError("a lesson message needs its notification and link")
        return rendered(f"{lesson_notification} {link}", lesson_notification, link)
    if kind == "survey":
        if not survey_text:
            raise ValueError("a survey message needs its question")
        return rendered(survey_text, survey_text)
    if kind == "record_reply":
        if record is None:
            raise ValueError("a record reply needs the record")
        text, _cut = record_text(record, language, explicit, name)
        summary = text.removesuffix(f" {record.link}") if record.link else text
        return rendered(text, summary)
    wording = "explicit" if explicit else "discreet"
    texts = _TEXTS.get((kind, wording))
    if texts is None:
        raise ValueError(f"no text for {kind} messages")
    text = texts.get(language, texts["zh-CN"]).format(name=name)
    return rendered(text, text)
