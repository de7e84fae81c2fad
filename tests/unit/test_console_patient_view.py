"""The patient page's pure parts: the month as weeks starting on Monday, one timeline
newest first, the masked phone, the QR code as inline SVG, and how an API's refusal names
its fields for the form."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.console.api_client import _refusal
from services.console.patient_api import CalendarDay, Reply, TimelineEntry
from services.console.patient_view import (
    masked_phone,
    merged_timeline,
    month_or_none,
    month_weeks,
    qr_svg,
)


def test_a_month_is_weeks_from_monday_padded_at_both_ends() -> None:
    days = [CalendarDay(day=date(2026, 12, d), state="future", mg=None) for d in range(1, 32)]
    weeks = month_weeks(days)
    assert len(weeks) == 5
    assert all(len(week) == 7 for week in weeks)
    assert weeks[0][0] is None  # 2026-12-01 is a Tuesday
    assert weeks[0][1] is days[0]
    assert weeks[-1][3] is days[-1]  # the 31st, a Thursday
    assert weeks[-1][4:] == [None, None, None]
    assert month_weeks([]) == []


def test_only_a_month_the_api_takes_is_passed_on() -> None:
    assert month_or_none("2026-11") == "2026-11"
    for bad in ("2026-13", "2026-1", "1899-12", "x", "", None, "2026-11-01"):
        assert month_or_none(bad) is None


def test_the_timeline_merges_what_was_sent_and_what_came_back_newest_first() -> None:
    sent = TimelineEntry(
        at=datetime(2026, 12, 1, 0, tzinfo=UTC), type="message", detail={"kind": "dose"}
    )
    dosed = TimelineEntry(at=datetime(2026, 12, 1, 2, tzinfo=UTC), type="dose", detail={})
    reply = Reply(
        id=1,
        kind="rating",
        channel="sms",
        received_at=datetime(2026, 12, 1, 1, tzinfo=UTC),
        rating=4,
        lesson_key="why-daily",
        text=None,
    )
    merged = merged_timeline([sent, dosed], [reply])
    assert [h.type for h in merged] == ["dose", "reply", "message"]
    assert merged[1].detail["rating"] == 4
    assert len(merged_timeline([sent] * 5, [], limit=3)) == 3


def test_the_phone_shows_its_last_four_digits_only() -> None:
    assert masked_phone("+8613900139003") == "•••• 9003"
    assert masked_phone(None) == ""
    assert masked_phone("12") == "••••"


def test_the_qr_code_is_an_inline_svg_that_scales() -> None:
    svg = str(qr_svg("http://weixin.qq.com/q/02abc"))
    assert svg.startswith("<svg")
    assert "viewBox" in svg
    assert "width=" not in svg.split(">", 1)[0]  # sized by the page's style
    assert "weixin" not in svg  # the address is in the modules, not in the markup


def test_a_refusal_names_its_fields() -> None:
    parsed = _refusal(
        b'{"status_code":400,"detail":"Validation failed for POST /api/v1/patients",'
        b'"extra":[{"message":"Expected `str`","key":"dose_time","source":"body"}]}'
    )
    assert parsed == ("Validation failed for POST /api/v1/patients", ("dose_time",))
    reason = b'{"status_code":400,"detail":"resume_on must be a future date"}'
    assert _refusal(reason) == ("resume_on must be a future date", ("resume_on",))
    assert _refusal(b"<html>Bad gateway</html>") == ("", ())
