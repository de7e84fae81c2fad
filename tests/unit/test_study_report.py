"""The study report's statistics on simulated studies whose truth is known: +0.20 on
adherence is found (p < 0.001) and estimated within 0.05, +20 points of retention found
(p < 0.01); a null effect is not found; the page has the tables and the plot."""

from __future__ import annotations

import random
from typing import Any

from services.scheduler.studies.flow import ArmFlow, FlowOut
from services.scheduler.studies.report import compare, render, retention

ARMS = ("intervention", "control")


def _simulate(
    effect: float, kept: dict[str, float], seed: int, n: int = 150
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(2 * n):
        arm = ARMS[i % 2]
        base = min(1.0, max(0.0, rng.gauss(0.6, 0.12)))
        later = min(1.0, max(0.0, rng.gauss(0.6 + (effect if arm == "intervention" else 0), 0.12)))
        followed = rng.random() < kept[arm]
        common = {"participant": str(i), "arm": arm, "urine_negative_share": ""}
        rows.append({**common, "time_point": "baseline", "adherence": base, "retained": 1})
        rows.append(
            {**common, "time_point": "month-3", "adherence": later, "retained": int(followed)}
        )
    return rows


def test_a_known_effect_is_found_and_estimated() -> None:
    rows = _simulate(0.20, {"intervention": 0.9, "control": 0.7}, seed=2026)
    found = compare(rows, "adherence", "month-3", ARMS)
    difference = found.arms["intervention"].mean - found.arms["control"].mean  # type: ignore[operator]
    assert abs(difference - 0.20) < 0.05
    assert found.test == "Welch t"
    assert found.p is not None
    assert found.p < 0.001
    at_baseline = compare(rows, "adherence", "baseline", ARMS)
    assert at_baseline.p is not None
    assert at_baseline.p > 0.01
    kept = retention(rows, "month-3", ARMS)
    assert kept.test == "chi-square"
    assert abs(kept.arms["intervention"].mean - kept.arms["control"].mean - 0.2) < 0.1  # type: ignore[operator]
    assert kept.p is not None
    assert kept.p < 0.01


def test_no_effect_is_not_found_and_too_few_values_give_no_test() -> None:
    rows = _simulate(0.0, {"intervention": 0.8, "control": 0.8}, seed=7)
    assert (compare(rows, "adherence", "month-3", ARMS).p or 0) > 0.05
    assert (retention(rows, "month-3", ARMS).p or 0) > 0.05
    one = [r for r in rows if r["participant"] in ("0", "1")]
    lonely = compare(one, "adherence", "month-3", ARMS)
    assert (lonely.test, lonely.p) == ("", None)
    assert lonely.arms["intervention"].n == 1


def test_the_page_has_the_flow_the_tables_and_the_plot() -> None:
    rows = _simulate(0.2, {"intervention": 0.9, "control": 0.7}, seed=1, n=20)
    flow = FlowOut(
        study="yuxi-wechat",
        enrolled=45,
        consented=42,
        baseline=40,
        randomised=40,
        not_randomised=5,
        arms=[
            ArmFlow(arm="intervention", allocated=20, lost={"moved": 2}, followed=18),
            ArmFlow(arm="control", allocated=20, lost={}, followed=20),
        ],
    )
    page = render(
        flow, "patient", rows, ["adherence", "urine_negative_share"], ["baseline", "month-3"]
    )
    assert "Enrolled 45; consented 42; baseline recorded 40; randomised 40" in page
    assert "<td>moved 2</td>" in page
    assert page.count("Welch t") == 2  # adherence at baseline and at month 3
    assert "<svg" in page
    assert "<?xml" not in page
    assert "randomised clinics" not in page
    assert "randomised clinics" in render(
        flow, "clinic", rows, ["adherence"], ["baseline", "month-3"]
    )
