"""A patient's states over time (active, paused, discharged): one row per change, written
in the same transaction as the change, so the adherence calendar can tell a day away in
compulsory detoxification (paused) from a day simply missed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.models import Patient, PatientStateChange


def note_state(session: AsyncSession, patient: Patient, at: datetime) -> None:
    """Record the patient's present state from `at` (the patient must have an id)."""
    session.add(PatientStateChange(patient_id=patient.id, state=patient.state, at=at))
