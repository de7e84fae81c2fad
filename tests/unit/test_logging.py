"""shared.logging: real rendered output must be JSON lines with health data masked."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog

from shared.logging import (
    REDACTED,
    configure_logging,
    get_logger,
    redact_event_dict,
    redact_text,
)

PHONE = "+8613812345678"
PHONE_DIGITS = "13812345678"
MASKED_PHONE = "+*********78"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.sig-nature_x"

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging() changes process-wide state; undo it after every test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    uvicorn_state = {
        name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
    }
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, (lib_handlers, propagate) in uvicorn_state.items():
        logging.getLogger(name).handlers[:] = lib_handlers
        logging.getLogger(name).propagate = propagate
    structlog.reset_defaults()


@pytest.fixture
def stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def lines(stream: io.StringIO) -> Lines:
    """Configure logging into *stream*; calling the result parses every line as JSON."""
    configure_logging("test-svc", stream=stream)

    def parse() -> list[dict[str, Any]]:
        raw = stream.getvalue().splitlines()
        assert raw, "nothing was logged"
        return [json.loads(line) for line in raw]

    return parse


def test_every_line_is_json_with_service_level_timestamp_and_logger(lines: Lines) -> None:
    get_logger("shared.test").info("structlog.event", count=3)
    logging.getLogger("uvicorn.error").warning("Started server process [%d]", 4242)

    first, second = lines()
    assert first["event"] == "structlog.event"
    assert first["count"] == 3
    assert first["level"] == "info"
    assert first["logger"] == "shared.test"
    assert second["event"] == "Started server process [4242]"
    assert second["level"] == "warning"
    assert second["logger"] == "uvicorn.error"
    for line in (first, second):
        assert line["service"] == "test-svc"
        stamp = datetime.fromisoformat(line["timestamp"])
        assert stamp.utcoffset() is not None
        assert stamp.utcoffset() == UTC.utcoffset(None)
        assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def test_get_logger_without_name_uses_calling_module(lines: Lines) -> None:
    get_logger().info("hello")
    assert lines()[0]["logger"] == __name__


def test_default_stream_is_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("stderr-svc")
    get_logger("x").info("to stderr", phone=PHONE)
    logging.getLogger("uvicorn.error").info("stdlib to stderr")

    captured = capsys.readouterr()
    assert captured.out == ""
    records = [json.loads(line) for line in captured.err.splitlines()]
    assert [r["event"] for r in records] == ["to stderr", "stdlib to stderr"]
    assert records[0]["phone"] == REDACTED
    assert all(r["service"] == "stderr-svc" for r in records)


def test_phone_in_message_is_masked(lines: Lines, stream: io.StringIO) -> None:
    log = get_logger("sms")
    log.info(f"sending reminder to {PHONE}")
    log.info("retrying %s", "138-1234-5678")
    logging.getLogger("uvicorn.error").error("gateway rejected %s", "+86 138 1234 5678")

    assert [line["event"] for line in lines()] == [
        f"sending reminder to {MASKED_PHONE}",
        "retrying *********78",
        f"gateway rejected {MASKED_PHONE}",
    ]
    assert PHONE_DIGITS not in stream.getvalue()
    assert "1234" not in stream.getvalue()


def test_phone_in_field_and_nested_structures_is_masked(lines: Lines, stream: io.StringIO) -> None:
    get_logger("sms").info(
        "delivery.status",
        recipient=PHONE,
        patient_contact=13812345678,  # passed as an int by mistake
        meta={"contacts": [{"mobile": "138 1234 5678"}, ("+86-138-1234-5678",)]},
    )

    (line,) = lines()
    assert line["recipient"] == MASKED_PHONE
    assert line["patient_contact"] == "*********78"
    assert line["meta"] == {"contacts": [{"mobile": "*********78"}, [MASKED_PHONE]]}
    assert PHONE_DIGITS not in stream.getvalue()


def test_phone_in_exception_text_is_masked(lines: Lines, stream: io.StringIO) -> None:
    log = get_logger("sms")
    try:
        raise ValueError(f"invalid destination {PHONE}")
    except ValueError:
        log.exception("send failed")
    try:
        raise RuntimeError(f"twilio said: {PHONE_DIGITS} is unreachable")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("request failed")

    structlog_line, stdlib_line = lines()
    assert f"ValueError: invalid destination {MASKED_PHONE}" in structlog_line["exception"]
    assert "Traceback (most recent call last)" in structlog_line["exception"]
    assert "RuntimeError: twilio said: *********78 is unreachable" in stdlib_line["exception"]
    assert PHONE_DIGITS not in stream.getvalue()


def test_openid_is_masked_in_fields_messages_and_by_key(lines: Lines, stream: io.StringIO) -> None:
    log = get_logger("wechat")
    log.info(f"template message sent to {OPENID}", recipient=OPENID)
    log.info("bound", openid=OPENID, wechat={"OpenID": OPENID, "user": f"user:{OPENID}"})

    first, second = lines()
    assert first["event"] == "template message sent to o[openid]"
    assert first["recipient"] == "o[openid]"
    assert second["openid"] == REDACTED
    assert second["wechat"] == {"OpenID": REDACTED, "user": "user:o[openid]"}
    assert OPENID not in stream.getvalue()


def test_sensitive_keys_are_redacted_wherever_they_appear(
    lines: Lines, stream: io.StringIO
) -> None:
    body = "今天请记得按时到门诊服药"
    get_logger("sms").info(
        "sms.sent",
        body=body,
        To=PHONE,
        payload={"Body": body, "from_": "clinic", "items": [{"Text": "survey answer"}]},
    )
    logging.getLogger("twilio.rest").warning("callback", extra={"message_body": body})

    first, second = lines()
    assert first["body"] == REDACTED
    assert first["To"] == REDACTED
    assert first["payload"] == {
        "Body": REDACTED,
        "from_": REDACTED,
        "items": [{"Text": REDACTED}],
    }
    assert second["message_body"] == REDACTED
    assert body not in stream.getvalue()
    assert "survey answer" not in stream.getvalue()


def test_authorization_header_and_bearer_tokens_are_masked(
    lines: Lines, stream: io.StringIO
) -> None:
    log = get_logger("http")
    log.info("outgoing request", headers={"Authorization": f"Bearer {TOKEN}", "Accept": "json"})
    log.info(f"upstream replied 401 to Authorization: Bearer {TOKEN}")
    logging.getLogger("httpx").warning("sent headers %s", {"authorization": f"Basic {TOKEN}"})

    first, second, third = lines()
    assert first["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert second["event"] == "upstream replied 401 to Authorization: Bearer [redacted]"
    assert third["event"] == "sent headers {'authorization': 'Basic [redacted]'}"
    assert TOKEN not in stream.getvalue()


def test_ids_timestamps_durations_and_counts_survive(lines: Lines) -> None:
    request_id = "123e4567-e89b-12d3-a456-426614174000"
    get_logger("scheduler").info(
        f"run {request_id} at 2026-11-24T02:17:44 took 1234 ms, count=200000",
        request_id=request_id,
        reminder_id=uuid.UUID(request_id),
        scheduled_at="2026-11-24T02:17:44+08:00",
        due=datetime(2026, 11, 24, 2, 17, 44, tzinfo=UTC),
        took_ms=1234,
        count=200000,
        epoch_ms=1732415864000,
        ratio=0.13812345678,
        ok=True,
    )

    (line,) = lines()
    assert line["event"] == (f"run {request_id} at 2026-11-24T02:17:44 took 1234 ms, count=200000")
    assert line["request_id"] == request_id
    assert line["reminder_id"] == request_id
    assert line["scheduled_at"] == "2026-11-24T02:17:44+08:00"
    assert line["due"] == "2026-11-24T02:17:44+00:00"
    assert line["took_ms"] == 1234
    assert line["count"] == 200000
    assert line["epoch_ms"] == 1732415864000
    assert line["ratio"] == 0.13812345678
    assert line["ok"] is True


def test_configure_twice_replaces_the_handler(stream: io.StringIO) -> None:
    first_stream = io.StringIO()
    configure_logging("svc-a", stream=first_stream)
    configure_logging("svc-b", stream=stream)
    get_logger("x").info("once")
    logging.getLogger("uvicorn.error").info("stdlib once")

    assert first_stream.getvalue() == ""
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["event"] for r in records] == ["once", "stdlib once"]
    assert {r["service"] for r in records} == {"svc-b"}


def test_level_filters_structlog_and_stdlib(stream: io.StringIO) -> None:
    configure_logging("svc", level="warning", stream=stream)
    get_logger("x").info("dropped")
    logging.getLogger("uvicorn.error").info("dropped too")
    get_logger("x").warning("kept")

    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["kept"]


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("svc", level="LOUD", stream=io.StringIO())


def test_uvicorn_loggers_are_routed_through_the_chain(stream: io.StringIO) -> None:
    # uvicorn's default config gives its loggers their own handlers and propagate=False.
    own = io.StringIO()
    access = logging.getLogger("uvicorn.access")
    access.addHandler(logging.StreamHandler(own))
    access.propagate = False

    configure_logging("api", stream=stream)
    access.info('%s - "%s %s HTTP/%s" %d', "10.0.0.1:5000", "GET", f"/r?to={PHONE}", "1.1", 200)

    assert own.getvalue() == ""
    (line,) = [json.loads(raw) for raw in stream.getvalue().splitlines()]
    assert line["event"] == '10.0.0.1:5000 - "GET /r?to=[redacted] HTTP/1.1" 200'
    assert line["service"] == "api"


def test_console_format_is_redacted_too(stream: io.StringIO) -> None:
    configure_logging("svc", fmt="console", stream=stream)
    get_logger("x").info(f"to {PHONE}", body="secret dose text", openid=OPENID)

    out = stream.getvalue()
    assert MASKED_PHONE in out
    assert PHONE_DIGITS not in out
    assert "secret dose text" not in out
    assert OPENID not in out


def test_redact_event_dict_handles_top_level_and_leaves_input_containers_alone() -> None:
    nested = {"phone": PHONE}
    event = {"event": f"hi {PHONE}", "password": "hunter2", "data": nested, "n": 5}

    out = redact_event_dict(None, "info", event)

    assert out == {
        "event": f"hi {MASKED_PHONE}",
        "password": REDACTED,
        "data": {"phone": REDACTED},
        "n": 5,
    }
    assert nested == {"phone": PHONE}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+8613812345678", MASKED_PHONE),
        ("13812345678", "*********78"),
        ("+86 138 1234 5678", MASKED_PHONE),
        ("138-1234-5678", "*********78"),
        ("call +1-415-555-0100 now", "call +*********00 now"),
        ("+44 20 7946 0958", "+*********58"),
        ("to +86 138 1234 5678 3 times", "to +*********78 3 times"),
        ("To=%2B8613812345678", "To=+*********78"),
        (OPENID, "o[openid]"),
        (f"id={OPENID};", "id=o[openid];"),
        ("Bearer xxxxx", "Bearer [redacted]"),
        (
            "GET /v1/send?to=13812345678&body=hi&page=2",
            "GET /v1/send?to=[redacted]&body=[redacted]&page=2",
        ),
        (  # the secret path token of an unsigned vendor push, in an access log line
            '"POST /webhooks/aliyun/s3cret-push-token-0001/report HTTP/1.1" 200',
            '"POST /webhooks/aliyun/[redacted]/report HTTP/1.1" 200',
        ),
        ("/webhooks/tencent/tok/reply?x=1", "/webhooks/tencent/[redacted]/reply?x=1"),
    ],
)
def test_redact_text_masks(text: str, expected: str) -> None:
    assert redact_text(text) == expected
    assert redact_text(expected) == expected  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-24T02:17:44",
        "2026-11-24T02:17:44.123456+08:00",
        "123e4567-e89b-12d3-a456-426614174000",
        "took 1234 ms",
        "count=200000",
        "epoch 1732415864000",
        "ratio 0.13812345678",
        "retry 3 of 5",
        "+12345",
        "reminder.sent",
        "",
    ],
)
def test_redact_text_leaves_ordinary_text_alone(text: str) -> None:
    assert redact_text(text) == text
