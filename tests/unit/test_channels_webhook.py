"""The webhook channel's signature, and the helpers every HTTP adapter shares."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from shared.channels import FailureKind
from shared.channels.support import http_failure, retry_after_seconds, safe_reason
from shared.channels.webhook import sign_webhook, verify_webhook_signature

SECRET = "a-webhook-secret-of-thirty-two-characters"
BODY = b'{"message_id":"m-1","address":"+8613812345678"}'


def test_the_signature_is_an_hmac_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign_webhook(SECRET, "1700000000", BODY) == f"sha256={expected}"


def test_a_receiver_accepts_a_fresh_signed_request() -> None:
    signature = sign_webhook(SECRET, "1700000000", BODY)
    assert verify_webhook_signature(SECRET, "1700000000", BODY, signature, now=1700000100)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "now"),
    [
        ("another-secret", "1700000000", BODY, 1700000000),
        (SECRET, "1700000000", BODY + b" ", 1700000000),  # tampered body
        (SECRET, "1700000001", BODY, 1700000000),  # tampered timestamp
        (SECRET, "1700000000", BODY, 1700000301),  # a replay past five minutes
        (SECRET, "not-a-time", BODY, 1700000000),
        (SECRET, None, BODY, 1700000000),
    ],
)
def test_a_receiver_refuses_anything_else(
    secret: str, timestamp: str | None, body: bytes, now: float
) -> None:
    signature = sign_webhook(SECRET, "1700000000", BODY)
    assert not verify_webhook_signature(secret, timestamp, body, signature, now=now)


def test_reasons_lose_addresses_numbers_and_openids() -> None:
    text = (
        "The 'To' number +86 138 1234 5678 (13812345678) is not valid; "
        "openid oABCDEFGHIJKLMNOPQRSTUVWXYZ0; recipient +8613812345678"
    )
    reason = safe_reason(text, "+8613812345678")
    assert "5678" not in reason
    assert "oABCDEFGHIJKLMNOPQRSTUVWXYZ0" not in reason
    assert "[recipient]" in reason
    assert len(safe_reason("x" * 1000)) == 300


def test_retry_after_reads_seconds_and_dates() -> None:
    now = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Tue, 24 Nov 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Tue, 24 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, FailureKind.RATE_LIMITED),
        (408, FailureKind.RETRYABLE),
        (500, FailureKind.RETRYABLE),
        (502, FailureKind.RETRYABLE),
        (400, FailureKind.PERMANENT),
        (404, FailureKind.PERMANENT),
    ],
)
def test_http_statuses_read_the_usual_way(status: int, kind: FailureKind) -> None:
    assert http_failure(status, "x").kind is kind
