"""Urgent needs are announced at once to the clinic's alert webhook, without the words."""

from __future__ import annotations

import json

import pytest

from deploy.fakes.process import running_fake
from services.feedback.escalation import Escalation
from shared.messages import UrgentNeedRaised

SECRET = "alert-secret-" + "x" * 32


async def test_an_urgent_need_is_announced_signed_and_without_the_patients_words() -> None:
    with running_fake("webhook", "--secret", SECRET) as fake:
        escalation = Escalation(f"{fake.url}/alerts", SECRET)
        try:
            event = UrgentNeedRaised(need_id=17, patient_id=3, clinic_id=2, category="medical")
            await escalation.announce(event, None)  # type: ignore[arg-type]
            stats = fake.stats()
            assert stats["accepted"] == {"clinic:2": 1}  # the fake checked the signature
            dumped = json.dumps(stats)
            assert "patient" not in dumped

            fake.configure(error_rate=1.0)
            with pytest.raises(RuntimeError, match="alert webhook"):
                await escalation.announce(event, None)  # type: ignore[arg-type]
        finally:
            await escalation.aclose()


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="FEEDBACK_ALERT_WEBHOOK_SECRET"):
        Escalation("http://127.0.0.1:1/alerts", "short")
