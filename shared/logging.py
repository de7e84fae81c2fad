"""Structured logging for every service of the suite, with health-data redaction.

Everything that ends up on stderr -- our own structlog calls *and* records emitted through the
standard library ``logging`` module by uvicorn, SQLAlchemy, APScheduler, twilio, ... -- goes
through one processor chain that ends with :func:`redact_event_dict` right before rendering.

Patients of methadone maintenance clinics must not be identifiable from our logs, so phone
numbers, WeChat openids, message bodies and credentials are masked both by *key* (a field
called ``phone`` is always replaced) and by *shape* (a string that looks like a mobile number
or an openid is masked wherever it appears, including in the event message and tracebacks).

Usage::

    from shared.logging import configure_logging, get_logger

    configure_logging("scheduler")
    log = get_logger(__name__)
    log.info("reminder.sent", reminder_id=str(reminder.id), channel="sms")
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import sys
import uuid
from collections.abc import Mapping
from typing import Any, Final, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "REDACTED",
    "SENSITIVE_KEYS",
    "configure_logging",
    "get_logger",
    "redact_event_dict",
    "redact_text",
    "redact_value",
]

REDACTED: Final = "[redacted]"

# Field names whose *values* are never logged, whatever they contain. Compared
# case-insensitively, with "-" treated as "_" and an "x_" prefix ignored (so HTTP header
# names such as "Authorization" or "X-Api-Key" match too).
SENSITIVE_KEYS: Final[frozenset[str]] = frozenset(
    {
        # Contact identifiers: a phone number or a WeChat openid identifies a patient, and
        # "to"/"from" are how SMS gateways (e.g. Twilio) name the patient's and clinic's numbers.
        "phone",
        "phone_number",
        "to",
        "from",
        "from_",
        "msisdn",
        "openid",
        "open_id",
        "wechat_openid",
        # Message contents: reminder texts, replies and survey answers reveal that the recipient
        # is in methadone treatment (and what they told the clinic).
        "body",
        "text",
        "content",
        "message_body",
        "needs",
        "need_text",
        "reply",
        # Personal data held about patients and staff.
        "address",
        "name",
        "display_name",
        # Credentials: gateway/API tokens, passwords and HTTP auth headers.
        "token",
        "password",
        "secret",
        "authorization",
        "api_key",
        "auth_token",
    }
)

# Keys that are handled by the logging machinery itself and must never be treated as data.
_NOISE_KEYS: Final = ("color_message",)  # uvicorn's ANSI-coloured duplicate of "event"

# Characters of a WeChat openid (URL-safe base64).
_OPENID_CHARS = r"A-Za-z0-9_\-"

# "Bearer <token>" anywhere in a text (headers dumped into messages or exception texts).
_BEARER_RE: Final = re.compile(r"\b(Bearer)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)

# "Authorization: <scheme> <credentials>" / "'Authorization': '...'" in text (e.g. a repr'd
# headers dict). The scheme is kept, the credentials are dropped.
_AUTH_HEADER_RE: Final = re.compile(
    r"(\bauthorization[\"']?\s*[:=]\s*[\"']?)((?:Bearer|Basic|Digest|Token)\s+)?[^\s,;'\"&}]+",
    re.IGNORECASE,
)

# Sensitive query-string parameters in URLs, e.g. "...Messages.json?To=...&Body=...".
_QUERY_PARAM_RE: Final = re.compile(
    r"([?&](?:" + "|".join(sorted(SENSITIVE_KEYS, key=len, reverse=True)) + r")=)[^&#\s\"']*",
    re.IGNORECASE,
)

# The secret path token of Aliyun's and Tencent's unsigned pushes (shared.channels.sms_push):
# an access log line of "/webhooks/aliyun/<token>/report" would hand it to log readers.
_PUSH_TOKEN_RE: Final = re.compile(r"(/webhooks/(?:aliyun|tencent)/)[^/\s?#\"']+")

# A WeChat openid: 28 characters of its alphabet starting with "o", not part of a longer run.
_OPENID_RE: Final = re.compile(
    rf"(?<![{_OPENID_CHARS}])o[{_OPENID_CHARS}]{{27}}(?![{_OPENID_CHARS}])"
)

# International numbers: "+" (or URL-encoded "%2B") then 8-15 digits, optionally in groups
# separated by single spaces or dashes: "+8613812345678", "+86 138 1234 5678",
# "+1-415-555-0100". The regex finds candidates; _mask_intl_phone() decides how many groups
# belong to the number (so "+86 138 1234 5678 3 times" keeps " 3 times").
_INTL_PHONE_RE: Final = re.compile(r"(?:\+|%2[Bb])\d+(?:[ \-]\d+)*")
_GROUP_SEP_RE: Final = re.compile(r"([ \-])")

# Chinese mobile numbers without "+": "13812345678", "138-1234-5678", "138 1234 5678", and
# the same with a "0086"/"86" country prefix. Must not touch longer digit runs or be part of a
# word/number (so UUIDs, timestamps, decimals and counters are left alone).
_CN_MOBILE_RE: Final = re.compile(
    r"(?<![\w.])(?:(?:00)?86[ \-]?)?1[3-9]\d(?:[ \-]?\d{4}){2}(?![\w])"
)
_CN_MOBILE_INT_RE: Final = re.compile(r"1[3-9]\d{9}")

# Fixed-width mask (does not reveal the number's length); the last 2 digits are kept so that
# support staff can still tell two numbers apart.
_PHONE_MASK: Final = "*********"


def _mask_cn_mobile(match: re.Match[str]) -> str:
    digits = [c for c in match.group(0) if c.isdigit()]
    return f"{_PHONE_MASK}{''.join(digits[-2:])}"


def _mask_intl_phone(match: re.Match[str]) -> str:
    raw = match.group(0)
    prefix_len = 1 if raw.startswith("+") else 3  # "+" or "%2B"
    parts = _GROUP_SEP_RE.split(raw[prefix_len:])
    groups, seps = parts[0::2], parts[1::2]
    limit = 13 if groups[0].startswith("86") else 15  # +86 mobiles have 13 digits
    taken, total = 0, 0
    for i, group in enumerate(groups):
        if i > 0:
            compact = taken == 1 and total >= 8  # "+8613812345678 12": "12" is not ours
            lone_digit = len(group) < 2  # "+86 138 1234 5678 3 times": a count, not a digit
            if compact or lone_digit or total + len(group) > limit:
                break
        total += len(group)
        taken += 1
        if total >= limit:
            break
    digits = "".join(groups[:taken])
    if not 8 <= len(digits) <= 15:
        return raw
    consumed = prefix_len + len(digits) + sum(len(sep) for sep in seps[: taken - 1])
    return f"+{_PHONE_MASK}{digits[-2:]}{raw[consumed:]}"


def redact_text(s: str) -> str:
    """Mask phone numbers, WeChat openids and bearer/basic credentials inside free text.

    ``"sms to +8613812345678 failed"`` becomes ``"sms to +*********78 failed"``. UUIDs, ISO
    timestamps, durations and ordinary numbers are left unchanged. Safe to call on text that
    was already redacted.
    """
    if not s:
        return s
    s = _AUTH_HEADER_RE.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}{REDACTED}", s)
    s = _BEARER_RE.sub(lambda m: f"{m.group(1)} {REDACTED}", s)
    s = _QUERY_PARAM_RE.sub(lambda m: f"{m.group(1)}{REDACTED}", s)
    s = _PUSH_TOKEN_RE.sub(lambda m: f"{m.group(1)}{REDACTED}", s)
    s = _OPENID_RE.sub("o[openid]", s)
    s = _INTL_PHONE_RE.sub(_mask_intl_phone, s)
    return _CN_MOBILE_RE.sub(_mask_cn_mobile, s)


def _is_sensitive_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    norm = key.lower().replace("-", "_")
    return norm in SENSITIVE_KEYS or (norm.startswith("x_") and norm[2:] in SENSITIVE_KEYS)


def redact_value(value: Any) -> Any:
    """Return *value* with sensitive keys replaced and strings scrubbed, recursively.

    Containers are copied, never modified in place (the caller may still use them). Objects
    that the JSON renderer would ``repr()`` are rendered here first so that their text is
    scrubbed too.
    """
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, int):
        # An 11-digit Chinese mobile number passed as an int; other integers are kept.
        text = str(value)
        if _CN_MOBILE_INT_RE.fullmatch(text):
            return f"{_PHONE_MASK}{text[-2:]}"
        return value
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if _is_sensitive_key(k) else redact_value(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    return redact_text(repr(value))


def redact_event_dict(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redact sensitive fields and scrub every string in *event_dict*.

    Must run after exceptions have been formatted (``format_exc_info``) so that the traceback
    text in ``exception`` is scrubbed as well, and right before the renderer.
    """
    for key in _NOISE_KEYS:
        event_dict.pop(key, None)
    for key, value in list(event_dict.items()):
        if _is_sensitive_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact_value(value)
    return event_dict


class _AddService:
    """Processor adding the ``service`` field (name of the emitting service)."""

    def __init__(self, service: str) -> None:
        self.service = service

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        event_dict["service"] = self.service
        return event_dict


# Processors run for structlog loggers and, as ``foreign_pre_chain``, for stdlib records.
_PRE_CHAIN: Final[list[Processor]] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]

# Marks the handler installed by configure_logging() so a second call replaces it.
_HANDLER_MARK: Final = "_shared_logging_handler"

# Loggers of libraries that install their own handlers; we make them propagate to the root
# logger instead so their records are rendered and redacted like ours.
_OWN_HANDLER_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access")

# Libraries that log request details (URLs with phone numbers, headers) at INFO.
_QUIET_LOGGERS: Final = ("twilio.http_client",)


def configure_logging(
    service: str,
    level: str = "INFO",
    fmt: Literal["json", "console"] = "json",
    stream: TextIO | None = None,
) -> None:
    """Configure structlog and stdlib ``logging`` to print redacted records to *stream*.

    *stream* defaults to ``sys.stderr`` (looked up at call time). With ``fmt="json"`` every
    record is one JSON object per line with ``timestamp`` (ISO 8601, UTC), ``level``,
    ``logger``, ``service`` and ``event``. Calling it again replaces the previous
    configuration instead of adding a second handler.
    """
    levels = logging.getLevelNamesMapping()
    level_name = level.upper()
    if level_name not in levels:
        raise ValueError(f"unknown log level: {level!r}")
    out = stream if stream is not None else sys.stderr

    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    elif fmt == "console":
        isatty = getattr(out, "isatty", None)
        renderer = structlog.dev.ConsoleRenderer(colors=bool(isatty and isatty()))
    else:
        raise ValueError(f"unknown log format: {fmt!r}")

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_PRE_CHAIN, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _AddService(service),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redact_event_dict,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in list(root.handlers):
        # Drop our previous handler and plain stderr/stdout handlers (e.g. from basicConfig),
        # which would print unredacted duplicates. Subclasses (pytest's capture handlers, ...)
        # are left alone.
        if getattr(old, _HANDLER_MARK, False) or type(old) is logging.StreamHandler:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(levels[level_name])

    for name in _OWN_HANDLER_LOGGERS:
        lib_logger = logging.getLogger(name)
        lib_logger.handlers.clear()
        lib_logger.propagate = True
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, levels[level_name]))

    # The structlog side is static: all settings live in the handler above, so cached loggers
    # stay valid across calls.
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_PRE_CHAIN,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """Return a structlog logger backed by the stdlib logger *name*.

    Without *name*, the calling module's ``__name__`` is used (like
    ``logging.getLogger(__name__)``).
    """
    if name is None:
        name = str(sys._getframe(1).f_globals.get("__name__", "root"))
    return structlog.stdlib.get_logger(name)
