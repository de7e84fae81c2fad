"""The ranking of "who is struggling" (services/console/struggling.py), from the APIs'
answers: each signal puts a patient on the list, an urgent need outranks everything,
one missed day or a week with a message through is not a signal."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.console.api_client import Alert, Need
from services.console.programme_api import ClinicSignals, PatientSignals, Reply
from services.console.struggling import Week, rank

NOW = datetime(2026, 12, 3, 8, tzinfo=UTC)


def _patient(pid: int, **signals: int | bool) -> PatientSignals:
    fields: dict[str, int | bool] = {
        "days": 7,
        "missed_days": 0,
        "failed_messages": 0,
        "reached_messages": 7,
        "opted_out": False,
        **signals,
    }
    return PatientSignals(
        patient_id=pid, clinic_number=f"YX-{pid:03d}", display_name=f"P{pid}", **fields
    )


def _need(pid: int, urgent: bool) -> Need:
    return Need(
        id=pid * 10,
        patient_id=pid,
        clinic_id=1,
        text="...",
        category="other",
        urgent=urgent,
        status="new",
        created_at=NOW,
    )


def test_each_signal_lists_a_patient_and_an_urgent_need_ranks_first() -> None:
    week = Week(
        signals=ClinicSignals(
            first_day=date(2026, 11, 26),
            last_day=date(2026, 12, 2),
            patients=[
                _patient(1),  # nothing: not listed
                _patient(2, missed_days=1),  # one missed day: not a signal
                _patient(3, missed_days=4),
                _patient(4, failed_messages=5, reached_messages=0),
                _patient(5, failed_messages=2, reached_messages=1),  # reached once: fine
                _patient(6, opted_out=True),
                _patient(7),
                _patient(8),
            ],
        ),
        alerts=[Alert(id=1, patient_id=8, kind="dropout_risk", raised_on="2026-12-02", details={})],
        needs=[_need(7, urgent=True)],
        ratings=[
            Reply(id=1, patient_id=3, kind="rating", received_at=NOW, rating=1, lesson_key=None),
            Reply(id=2, patient_id=6, kind="rating", received_at=NOW, rating=4, lesson_key=None),
        ],
    )
    ranked = rank(week)
    assert [r.patient_id for r in ranked] == [7, 8, 3, 4, 6]
    by_id = {r.patient_id: r for r in ranked}
    assert (by_id[3].missed_days, by_id[3].low_ratings) == (4, [1])
    assert by_id[4].unreachable
    assert by_id[6].opted_out
    assert by_id[6].low_ratings == []  # a 4 is not a low rating
    assert by_id[7].clinic_number == "YX-007"
