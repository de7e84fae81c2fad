"""Events the scheduler publishes about patients (look-up hashes only, never identifiers)."""

from __future__ import annotations

from services.scheduler.models import Patient
from shared.messages import PatientUpdated


def updated_event(patient: Patient) -> PatientUpdated:
    return PatientUpdated(
        patient_id=patient.id,
        clinic_id=patient.clinic_id,
        phone_hash=patient.phone_hash,
        openid_hash=patient.openid_hash,
        language=patient.language,
        study_arm=patient.study_arm,
        state=patient.state,
        opted_out=patient.opted_out_at is not None,
    )
