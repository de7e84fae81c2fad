"""The adherence calendar's day rules (services/scheduler/monthly.py): a dose wins, a pause
at any moment of a day makes it paused (not missed), then a discharge; an active day
without a dose is missed, or still due today; days before enrolment and after today."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.scheduler.monthly import day_states

ZONE = "Asia/Shanghai"  # UTC+8: local midnight is 16:00 UTC the day before


def _at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def test_each_day_of_a_month_gets_its_state() -> None:
    changes = [
        (_at(3, 1), "active"),  # 09:00 local on the 3rd
        (_at(10, 2), "paused"),  # 10:00 local on the 10th: the 10th is paused
        (_at(13, 15), "active"),  # 23:00 local on the 13th: the 13th is still paused
        (_at(20, 17), "discharged"),  # 01:00 local on the 21st
    ]
    doses = {date(2026, 11, 4): 60.0, date(2026, 11, 10): None}
    days = day_states(
        date(2026, 11, 1), date(2026, 11, 30), date(2026, 11, 25), ZONE, changes, doses
    )
    states = {d.day.day: d.state for d in days}
    assert len(days) == 30
    assert (states[1], states[2]) == ("not_enrolled", "not_enrolled")
    assert states[3] == "missed"  # enrolled that morning, no dose
    assert states[4] == "dosed"
    assert days[3].mg == 60.0
    assert states[10] == "dosed"  # a dose that morning, then paused: it was taken
    assert [states[d] for d in (11, 12, 13)] == ["paused"] * 3
    assert states[14] == "missed"
    assert states[21] == "discharged"
    assert states[26] == "future"


def test_today_is_due_until_a_dose_and_a_patient_with_no_change_is_not_enrolled() -> None:
    changes = [(_at(1, 0), "active")]
    today = date(2026, 11, 5)
    days = day_states(today, today, today, ZONE, changes, {})
    assert [d.state for d in days] == ["due"]
    dosed = day_states(today, today, today, ZONE, changes, {today: 45.0})
    assert [d.state for d in dosed] == ["dosed"]
    assert [d.state for d in day_states(today, today, today, ZONE, [], {})] == ["not_enrolled"]
