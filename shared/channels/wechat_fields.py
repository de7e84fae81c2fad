"""WeChat's typed keyword fields (类目模板, 订阅通知), checked the way WeChat checks them.

Since 2023-05-04 WeChat shows a template message's keyword fields only: `first`, `remark`,
colours and emoji are dropped without an error. A keyword's name gives its type by prefix
(`thing1`, `time2`, `phrase3`, `character_string4`, ...), and WeChat refuses a value that
breaks the type's rule with 47003, naming the field. We check the same rules twice:

- at start-up and in `mmt doctor` (`mapping_problems`): an unknown type, `first`/`remark`,
  a literal that breaks its rule, a source the renderer never provides or whose values a
  field's type cannot take (free text in a `time` field) are refused, naming kind, field and
  rule;
- before each send (`keyword_values`): a `thing` that is too long is cut with an ellipsis
  (its meaning survives, shortened), line breaks in it become spaces; any other value that
  breaks its rule fails the send for good on WeChat, the rule named, and the dispatcher
  tries the patient's next channel. Nothing is sent to fail with 47003.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from shared.channels import message_fields as mf
from shared.channels.base import FailureKind, OutboundMessage, SendFailed
from shared.channels.settings import WeChatTemplate
from shared.channels.support import template_source
from shared.stigma import find_stigma

THING_MAX = 20
ELLIPSIS = "…"
RETIRED = frozenset({"first", "remark"})  # no longer shown since 2023-05-04
# The keywords of a typical reminder category template (事项 / 时间 / 内容), for the sandbox,
# benchmarks and the doctor's advice; a real account maps its own template's keywords.
SUGGESTED_DATA: dict[str, str] = {"thing1": "title", "time2": "local_time", "thing3": "summary"}

_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_SYMBOLS = r"!-/:-@\[-`{-~"  # ASCII punctuation
_DATE = r"\d{4}年\d{1,2}月\d{1,2}日"
_CLOCK = r"(?:[01]?\d|2[0-3]):[0-5]\d"
_AT = rf"(?:{_DATE} ?)?{_CLOCK}"
_DAY = rf"{_DATE}(?: ?{_CLOCK})?"
_NUMBER = r"\d+(?:\.\d+)?"


@dataclass(frozen=True)
class Rule:
    words: str  # the rule as a reason names it
    pattern: re.Pattern[str]  # a whole value that keeps the rule


def _rule(words: str, pattern: str) -> Rule:
    return Rule(words, re.compile(pattern))


RULES: dict[str, Rule] = {
    "thing": _rule(f"at most {THING_MAX} characters", rf".{{1,{THING_MAX}}}"),
    "phrase": _rule("at most 5 Chinese characters", rf"[{_CJK}]{{1,5}}"),
    "character_string": _rule("at most 32 letters, digits or symbols", r"[!-~]{1,32}"),
    "number": _rule("at most 32 digits, a decimal point allowed", rf"(?=.{{1,32}}$){_NUMBER}"),
    "letter": _rule("at most 32 letters", r"[A-Za-z]{1,32}"),
    "symbol": _rule("at most 5 symbols", rf"[{_SYMBOLS}]{{1,5}}"),
    "time": _rule(
        "a 24-hour time (15:01), a date before it if any (2019年10月1日 15:01), or two joined by ~",
        rf"{_AT}(?:~{_AT})?",
    ),
    "date": _rule(
        "a date (2019年10月1日), a time after it if any, or two joined by ~",
        rf"{_DAY}(?:~{_DAY})?",
    ),
    "amount": _rule(
        "a currency sign and at most 10 digits, or digits and 元",
        r"[¥￥$]\d{1,10}(?:\.\d{1,2})?|\d{1,10}(?:\.\d{1,2})?元",
    ),
    "phone_number": _rule("at most 17 digits, + and -", r"[\d+\-]{1,17}"),
    "name": _rule(
        "at most 10 Chinese characters or 20 letters", rf"[{_CJK}·]{{1,10}}|[A-Za-z .]{{1,20}}"
    ),
}
_KEYWORD = re.compile(r"(?P<type>[a-z_]+?)\d+")

# What each rendered field can hold, so that a mapping is refused at start-up rather than
# failing every send: free text fits only a `thing` (cut), a title also a `phrase`, ...
_FITS: dict[str, frozenset[str]] = {
    mf.TITLE: frozenset({"thing", "phrase"}),
    mf.SUMMARY: frozenset({"thing"}),
    mf.FIRST: frozenset({"thing"}),
    mf.TEXT: frozenset({"thing"}),
    mf.NAME: frozenset({"thing", "name"}),
    mf.LOCAL_TIME: frozenset({"thing", "time", "date"}),
    mf.LOCAL_DATE: frozenset({"thing", "date"}),
    mf.URL: frozenset(),  # a link is the card's `url` / `page`, never a keyword
}


class FieldRefused(ValueError):
    """A value WeChat would refuse for this field (47003); the value itself is not kept."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field} ({rule})")
        self.field = field
        self.rule = rule


def field_type(field: str) -> str | None:
    """The type a keyword's name gives (`character_string4` -> character_string), or None."""
    match = _KEYWORD.fullmatch(field)
    return match["type"] if match and match["type"] in RULES else None


def check(field: str, value: str) -> None:
    """Raise FieldRefused unless WeChat takes `value` as it is for `field`."""
    kind = field_type(field)
    if kind is None:
        raise FieldRefused(field, "not a typed keyword field such as thing1")
    if "\n" in value or "\r" in value:
        raise FieldRefused(field, "no line breaks")
    rule = RULES[kind]
    if not rule.pattern.fullmatch(value):
        raise FieldRefused(field, f"{kind}: {rule.words}")


def fit(field: str, value: str) -> str:
    """`value` as WeChat takes it for `field`: a `thing` on one line and cut with an
    ellipsis within its 20 characters; anything else as it is, or FieldRefused."""
    if field_type(field) == "thing":
        value = " ".join(value.split())  # line breaks and runs of spaces: one space
        if len(value) > THING_MAX:
            value = value[: THING_MAX - 1] + ELLIPSIS
    check(field, value)
    return value


def keyword_values(message: OutboundMessage, template: WeChatTemplate) -> dict[str, str]:
    """Each keyword field's value as it will be sent; a value that cannot be made to keep
    its rule is a permanent failure on WeChat naming the field and the rule (not the
    value: it is the patient's text)."""
    values: dict[str, str] = {}
    for field, source in template.data.items():
        value = template_source("wechat", message, f"field {field}", source)
        try:
            values[field] = fit(field, value)
        except FieldRefused as refused:
            raise SendFailed(
                FailureKind.PERMANENT,
                f"wechat: the {message.kind} template's {refused}",
                code="field_rule",
            ) from None
    return values


def mapping_problems(templates: Mapping[str, WeChatTemplate]) -> list[str]:
    """Every problem of a WECHAT_TEMPLATES mapping, naming kind, field and rule."""
    problems: list[str] = []
    for kind, template in templates.items():
        where = f"WECHAT_TEMPLATES {kind}"
        if kind not in mf.KINDS:
            problems.append(f"{where}: no such message kind (known: {', '.join(mf.KINDS)})")
            continue
        if not template.template_id.strip():
            problems.append(f"{where}: template_id is empty")
        if not template.data:
            problems.append(
                f"{where}: no keyword fields; WeChat would show an empty card "
                f"(map the template's keywords, e.g. {json.dumps(SUGGESTED_DATA)})"
            )
        for field, source in template.data.items():
            problem = _field_problem(kind, field, source)
            if problem:
                problems.append(f"{where} field {field}: {problem}")
    return problems


def _field_problem(kind: str, field: str, source: str) -> str | None:
    if field in RETIRED:
        return "WeChat no longer shows first or remark (since 2023-05-04); map typed keyword fields"
    field_kind = field_type(field)
    if field_kind is None:
        return f"unknown field type (a keyword field is one of {', '.join(RULES)} and a number)"
    if source.startswith("="):
        literal = source[1:]
        try:
            check(field, literal)
        except FieldRefused as refused:
            return f"the literal breaks the rule: {refused.rule}"
        if find_stigma(literal):
            return "the literal names a word that could out a patient on a lock screen"
        return None
    if source not in mf.provided(kind):
        known = ", ".join(sorted(mf.provided(kind)))
        return f"source {source!r} is never provided for {kind} messages (known: {known})"
    if field_kind not in _FITS.get(source, frozenset()):
        return f"source {source!r} cannot keep the rule of a {field_kind} field"
    return None
