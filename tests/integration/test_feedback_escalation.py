"""Urgent needs are announced at once: a text to the clinic's on-call phone through the
real Twilio adapter (against the fake provider) and a signed POST to the alert webhook,
both without the patient's words or number."""

from __future__ import annotations

import json

import pytest

from deploy.fakes.process import running_fake
from services.feedback.escalation import Escalation, alert_webhook
from shared.access.clinics import ClinicIn, ClinicPatch, create_clinic, update_clinic
from shared.access.tokens import Principal, Role
from shared.channels.twilio_sms import TwilioConfig, TwilioSmsChannel
from shared.db import Database
from shared.errors import InvalidInput
from shared.messages import UrgentNeedRaised

SECRET = "alert-secret-" + "x" * 32
SID, TOKEN = "AC" + "1" * 32, "twilio-token-escalation"
ON_CALL = "+8613912345678"
ADMIN = Principal("admin0000000", Role.ADMIN, frozenset())


async def test_an_urgent_need_is_texted_and_posted_without_the_patients_words(
    access_db: Database,
) -> None:
    clinic = await create_clinic(
        access_db,
        ClinicIn(code="YX", name="Yuxi", help_phone="0877 2012345", alert_phone="139 1234 5678"),
    )
    assert clinic.alert_phone == ON_CALL
    with (
        running_fake("webhook", "--secret", SECRET) as hook,
        running_fake("twilio", "--account-sid", SID, "--auth-token", TOKEN) as twilio,
    ):
        sms = TwilioSmsChannel(
            TwilioConfig(SID, TOKEN, from_number="+15005550006", api_base_url=twilio.url)
        )
        escalation = Escalation(
            access_db, webhook=alert_webhook(f"{hook.url}/alerts", SECRET), sms=sms
        )
        try:
            event = UrgentNeedRaised(
                need_id=17, patient_id=3, clinic_id=clinic.id, category="medical"
            )
            await escalation.announce(event, None)
            assert hook.stats()["accepted"] == {f"clinic:{clinic.id}": 1}  # signature checked
            assert twilio.stats()["accepted"] == {ON_CALL: 1}
            dumped = json.dumps([hook.stats(), twilio.stats()])
            assert "patient" not in dumped

            hook.configure(error_rate=1.0)
            with pytest.raises(RuntimeError, match="alert webhook"):
                await escalation.announce(event, None)
        finally:
            await escalation.aclose()
            await sms.aclose()


async def test_a_clinic_without_an_alert_phone_is_not_texted(access_db: Database) -> None:
    clinic = await create_clinic(
        access_db, ClinicIn(code="KM", name="Kunming", help_phone="0871 63123456")
    )
    with running_fake("twilio", "--account-sid", SID, "--auth-token", TOKEN) as twilio:
        sms = TwilioSmsChannel(
            TwilioConfig(SID, TOKEN, from_number="+15005550006", api_base_url=twilio.url)
        )
        escalation = Escalation(access_db, sms=sms)
        try:
            event = UrgentNeedRaised(need_id=1, patient_id=3, clinic_id=clinic.id, category="other")
            await escalation.announce(event, None)
            assert twilio.stats()["total_accepted"] == 0
            patched = await update_clinic(
                access_db, ADMIN, clinic.id, ClinicPatch(alert_phone=ON_CALL)
            )
            assert patched.alert_phone == ON_CALL
            await escalation.announce(event, None)
            assert twilio.stats()["accepted"] == {ON_CALL: 1}
        finally:
            await sms.aclose()
    with pytest.raises(InvalidInput, match="alert_phone is not a valid phone number"):
        await update_clinic(access_db, ADMIN, clinic.id, ClinicPatch(alert_phone="12"))


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="FEEDBACK_ALERT_WEBHOOK_SECRET"):
        alert_webhook("http://127.0.0.1:1/alerts", "short")
