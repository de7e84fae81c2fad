"""The MI target's arithmetic over time (window, due dates, status) and the study file's
`mi_sessions` on an arm: validated like the rest, each mistake named by file, line, field."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from services.scheduler.mi.rules import Window, due_dates, progress
from services.scheduler.studies.definition import MiSessions, validate_study
from shared.yaml_problems import load_yaml

FOLDER = Path(__file__).parents[2] / "studies"
START = date(2026, 1, 1)
WINDOW = Window.opening(START, 2, 90, "study", 1, "intervention")


def day(n: int) -> date:
    return START + timedelta(days=n)


def test_two_sessions_in_ninety_days_are_due_early_and_before_the_last_two_weeks() -> None:
    assert WINDOW.ends_on == day(90)
    first, second = due_dates(WINDOW)
    assert (first.number, first.due_from, first.due_by) == (1, day(0), day(14))
    assert (second.number, second.due_from, second.due_by) == (2, day(62), day(76))
    middle = due_dates(Window.opening(START, 3, 90, "clinic"))[1]
    assert middle.due_by == day(45)  # evenly between the first and the last


@pytest.mark.parametrize(
    ("held", "today", "status", "count", "next_session"),
    [
        ([], 0, "due", 0, 1),  # the first is due from randomisation
        ([], 14, "due", 0, 1),
        ([], 15, "overdue", 0, 1),
        ([10], 20, "on_track", 1, 2),
        ([10], 62, "due", 1, 2),
        ([10], 77, "overdue", 1, 2),
        ([10], 91, "missed", 1, None),
        ([10, 70], 71, "met", 2, None),
        ([10, 70], 200, "met", 2, None),  # met stays met after the window
        ([-1, 10], 20, "on_track", 1, 2),  # before randomisation: not in the window
        ([10, 91], 95, "missed", 1, None),  # after the window: too late
    ],
)
def test_the_status_over_time(
    held: list[int], today: int, status: str, count: int, next_session: int | None
) -> None:
    state = progress(WINDOW, [day(n) for n in held], day(today))
    assert (state.status, state.held, state.next_session) == (status, count, next_session)


def test_the_shipped_care_study_gives_its_intervention_arm_two_sessions_in_ninety_days() -> None:
    care, problems = validate_study(yaml.safe_load((FOLDER / "mmt-care.yaml").read_text("utf-8")))
    assert problems == []
    assert care is not None
    targets = {arm.code: arm.mi_sessions for arm in care.arms}
    assert targets == {"intervention": MiSessions(target=2, within_days=90), "control": None}


@pytest.mark.parametrize(
    ("block", "field", "message"),
    [
        ("mi_sessions: {target: 0, within_days: 90}", "target", "from 1 to 6"),
        ("mi_sessions: {target: 2, within_days: 7}", "within_days", "from 28 to 365"),
        ("mi_sessions: {target: two, within_days: 90}", "target", "whole number"),
        ("mi_sessions: {target: 2}", "within_days", "missing"),
        ("mi_sessions: {target: 2, within_days: 90, every: 3}", "every", "unknown field"),
    ],
)
def test_a_wrong_mi_target_is_named_by_file_line_and_field(
    block: str, field: str, message: str
) -> None:
    text = (FOLDER / "mmt-care.yaml").read_text("utf-8")
    text = text.replace(
        "    mi_sessions:\n      target: 2\n      within_days: 90\n", f"    {block}\n"
    )
    line = text.splitlines().index(f"    {block}") + 1
    data, source, unreadable = load_yaml(text, "mmt-care.yaml")
    assert unreadable == []
    study, problems = validate_study(data, source)
    assert study is None
    [problem] = problems
    assert (problem.file, problem.line, problem.field) == (
        "mmt-care.yaml",
        line,
        f"arms[0].mi_sessions.{field}",
    )
    assert message in problem.message
