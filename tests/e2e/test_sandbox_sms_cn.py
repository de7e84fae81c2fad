"""The README's Aliyun/Tencent walk-through, run as written against
`CHANNEL_SMS=<vendor> mmt up --sandbox`: a dose reminder sent by the real adapter to the
vendor's fake and marked delivered by its pushed receipt, then the patient's texts pushed
to the feedback service and answered by SMS through the same fake."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import Backends
from tests.e2e.test_readme_walkthrough import README, answers, run_walkthrough, walkthrough

pytestmark = pytest.mark.e2e

BEGIN, END = "<!-- walkthrough-cn:begin -->", "<!-- walkthrough-cn:end -->"
PATIENT = "+8613800138001"


def test_the_section_parses_into_a_reminder_and_replies() -> None:
    steps = walkthrough(README.read_text(), BEGIN, END)
    commands = "\n".join(step.command for step in steps)
    assert f"sandbox reply --phone {PATIENT} 1\n" in commands
    assert f"sandbox reply --phone {PATIENT} 退订\n" in commands
    delivered = [step for step in steps if step.expected and '"state":"delivered"' in step.expected]
    assert len(delivered) == 1
    assert answers(
        delivered[0].expected or "",
        '[{"type":"message","detail":{"id":"x",'
        '"kind":"dose","state":"delivered","reason":null,"channel":"sms","a":1}}]',
    )


@pytest.mark.parametrize("vendor", ["aliyun", "tencent"])
def test_the_domestic_sms_walkthrough_runs_as_written(
    vendor: str, tmp_path: Path, backends: Backends, isolation: str
) -> None:
    def fake_saw_it_all(fakes: dict[str, str]) -> None:
        assert fakes["sms"] == fakes[vendor]
        with urllib.request.urlopen(f"{fakes['sms']}/_fake/stats", timeout=5) as answer:
            stats = json.loads(answer.read())
        # The reminder and the two answers, all through the vendor's adapter and fake.
        assert stats["accepted"] == {PATIENT: 3}
        assert stats["inbound"] >= 2
        assert stats["pushes_ok"] >= 1  # the reminder's receipt, answered 200 by the scheduler
        assert stats.get("pushes_refused", 0) == 0

    steps = walkthrough(README.read_text(), BEGIN, END)
    run_walkthrough(steps, {"CHANNEL_SMS": vendor}, tmp_path, backends, isolation, fake_saw_it_all)
