"""The training report's figures per arm: a cluster-randomised study's clinics grouped by
their arm (the scheduler's), each arm's figures summed from its clinics' (the content
service's). Sums, not means of means: a mean score is weighted by who took the round, a
share correct by who answered, so an arm's figures are those of all its staff together."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from services.console.training_api import (
    ClinicArm,
    ClinicReport,
    QuestionShare,
    RoundReport,
    Study,
)

ROUND_ORDER = ("baseline", "month-3", "month-6", "month-9")


@dataclass(frozen=True)
class Figures:
    """One clinic's or one arm's: the shape the page shows for either."""

    clinic_ids: tuple[int, ...]
    staff: int
    lessons_read_share: float | None
    rounds: list[RoundReport]


@dataclass(frozen=True)
class ArmFigures:
    arm: str
    figures: Figures


@dataclass(frozen=True)
class StudyFigures:
    study: Study
    arms: list[ArmFigures]


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _round(name: str, parts: list[RoundReport]) -> RoundReport:
    took = sum(p.took for p in parts)
    score_sum = sum((p.mean_score or 0) * p.took for p in parts)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for part in parts:
        for question in part.questions:
            counts[question.id][0] += question.answered
            counts[question.id][1] += question.correct
    return RoundReport(
        round=name,
        staff=sum(p.staff for p in parts),
        took=took,
        mean_score=_share(score_sum, took),
        questions=[
            QuestionShare(id=qid, answered=n, correct=c, share_correct=_share(c, n))
            for qid, (n, c) in sorted(counts.items())
        ],
    )


def combine(reports: list[ClinicReport]) -> Figures:
    by_round: dict[str, list[RoundReport]] = defaultdict(list)
    for report in reports:
        for part in report.rounds:
            by_round[part.round].append(part)
    pairs = sum(r.staff * r.lessons for r in reports)
    return Figures(
        clinic_ids=tuple(r.clinic_id for r in reports),
        staff=sum(r.staff for r in reports),
        lessons_read_share=_share(sum(r.lessons_read for r in reports), pairs),
        rounds=[_round(name, by_round[name]) for name in ROUND_ORDER if name in by_round],
    )


def by_arm(
    reports: list[ClinicReport], studies: list[tuple[Study, list[ClinicArm]]]
) -> list[StudyFigures]:
    """Each study's arms over the clinics in `reports` (those the person may see)."""
    by_clinic = {r.clinic_id: r for r in reports}
    found = []
    for study, arms in studies:
        grouped: dict[str, list[ClinicReport]] = defaultdict(list)
        for entry in arms:
            if entry.clinic_id in by_clinic:
                grouped[entry.arm].append(by_clinic[entry.clinic_id])
        if grouped:
            found.append(
                StudyFigures(
                    study,
                    [ArmFigures(arm, combine(grouped[arm])) for arm in sorted(grouped)],
                )
            )
    return found
