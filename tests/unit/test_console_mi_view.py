"""Which MI sessions the patient page offers to correct or void (services/console/mi_view.py):
its author within the day, an admin (a correction within the day, a void at any time),
nobody else, never a voided one; and the form a kept correction or void comes back in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.console.care_api import MiSession, PatientMi
from services.console.mi_view import change_form, mi_changes
from services.console.sessions import SessionData

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
ME, COLLEAGUE = 7, 8


def _session(
    session_id: int, author: int | None, hours_ago: float, voided: bool = False
) -> MiSession:
    return MiSession(
        id=session_id,
        held_on=date(2026, 12, 2),
        provider_name="李娜 (li.na)",
        minutes=20,
        topic="drug_use",
        topic_note=None,
        importance=5,
        confidence=5,
        plan=None,
        author_staff_id=author,
        created_at=NOW - timedelta(hours=hours_ago),
        voided=voided,
        void_reason="wrong patient" if voided else None,
    )


def _person(role: str) -> SessionData:
    return SessionData(
        staff_id=ME,
        name="李娜",
        role=role,
        clinics=(),
        generation=1,
        token="t",
        token_id="token0000001",
        created_at=0.0,
        last_seen=0.0,
    )


MI = PatientMi(
    target=None,
    sessions=[
        _session(1, ME, 2),  # mine, today
        _session(2, ME, 25),  # mine, more than a day ago
        _session(3, COLLEAGUE, 1),  # a colleague's
        _session(4, ME, 1, voided=True),
        _session(5, None, 1),  # logged with a token that names no person
    ],
)


def test_a_coordinator_is_offered_their_own_sessions_of_the_last_day_only() -> None:
    offered = mi_changes(MI, _person("coordinator"), NOW)
    assert offered.editable == {1}
    assert offered.voidable == {1}


def test_an_admin_corrects_within_the_day_and_voids_any_session_not_voided() -> None:
    offered = mi_changes(MI, _person("admin"), NOW)
    assert offered.editable == {1, 3, 5}
    assert offered.voidable == {1, 2, 3, 5}


def test_no_sessions_no_forms() -> None:
    assert mi_changes(None, _person("admin"), NOW).editable == frozenset()


def test_a_kept_correction_or_void_names_its_form_on_the_patient_page() -> None:
    assert change_form("/clinics/1/patients/2/mi-sessions/34") == "mi-edit-34"
    assert change_form("/clinics/1/patients/2/mi-sessions/34/void") == "mi-void-34"
    assert change_form("/clinics/1/patients/2/mi-sessions") is None
    assert change_form("/clinics/1/patients/2/pause") is None
