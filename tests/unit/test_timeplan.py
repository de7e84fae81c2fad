"""Local-time arithmetic of reminders, around DST changes and quiet hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from services.scheduler.rendering import render
from services.scheduler.timeplan import in_quiet_hours, local_instant, reminder_time
from shared.stigma import find_stigma

NY = "America/New_York"


def test_shanghai_has_no_dst_and_is_utc_plus_8() -> None:
    assert local_instant(date(2026, 7, 1), time(7, 30), "Asia/Shanghai") == datetime(
        2026, 6, 30, 23, 30, tzinfo=UTC
    )


def test_the_same_wall_clock_time_moves_in_utc_across_dst() -> None:
    before = local_instant(date(2026, 3, 7), time(7, 30), NY)  # EST, UTC-5
    after = local_instant(date(2026, 3, 9), time(7, 30), NY)  # EDT, UTC-4
    assert before.hour == 12
    assert after.hour == 11


def test_a_time_skipped_by_spring_forward_lands_after_the_jump() -> None:
    # 02:30 does not exist on 2026-03-08 in New York: it becomes 03:30 EDT (07:30 UTC).
    assert local_instant(date(2026, 3, 8), time(2, 30), NY) == datetime(
        2026, 3, 8, 7, 30, tzinfo=UTC
    )


def test_an_ambiguous_time_in_fall_back_takes_its_first_occurrence() -> None:
    # 01:30 happens twice on 2026-11-01 in New York; the first is EDT (UTC-4).
    assert local_instant(date(2026, 11, 1), time(1, 30), NY) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("at", "start", "end", "quiet"),
    [
        (time(23), time(22), time(7), True),
        (time(2), time(22), time(7), True),
        (time(7), time(22), time(7), False),
        (time(13), time(12), time(14), True),
        (time(9), time(9), time(9), False),
    ],
)
def test_quiet_hours(at: time, start: time, end: time, quiet: bool) -> None:
    assert in_quiet_hours(at, start, end) is quiet


def test_a_reminder_in_quiet_hours_waits_for_them_to_end() -> None:
    early = reminder_time(date(2026, 11, 24), time(6), "Asia/Shanghai", time(22), time(7))
    assert early == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 07:00 local the same day
    late = reminder_time(date(2026, 11, 24), time(23), "Asia/Shanghai", time(22), time(7))
    assert late == datetime(2026, 11, 24, 23, 0, tzinfo=UTC)  # 07:00 local the next day


@pytest.mark.parametrize("kind", ["dose", "missed_dose"])
@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_discreet_wording_names_nothing_that_outs_a_patient(kind: str, language: str) -> None:
    discreet = render(kind, language, explicit=False, name="L.W.").text
    explicit = render(kind, language, explicit=True, name="L.W.").text
    assert find_stigma(discreet) == []
    assert find_stigma(explicit) != []  # explicit wording is for those who opted in
    assert "L.W." in discreet
