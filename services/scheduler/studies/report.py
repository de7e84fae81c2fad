"""A study's report (issue 21 part 3): the flow counts, a baseline table by arm and the
outcomes compared between arms at each time point, as one HTML page with its plots inline.

It reads the analysis file's rows (export.py), so the report and the file a statistician
re-analyses are the same numbers. Continuous outcomes (adherence, share of negative urine
tests, each assessment score) are mean (SD) per arm, compared by Welch's t test for two
arms or one-way ANOVA for more; retention is a rate per arm, compared by a chi-square test.
Tests are descriptive: no adjustment for multiple comparisons or clustering (a cluster-
randomised study needs a model that accounts for clinics; the report says so). scipy does
the statistics and matplotlib the plots (SVG, so the page is one self-contained file)."""

from __future__ import annotations

import io
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt  # after choosing the backend
from scipy import stats

from services.scheduler.studies.flow import FlowOut

CONTINUOUS = ("adherence", "urine_negative_share")


@dataclass(frozen=True)
class ArmSummary:
    n: int
    mean: float | None
    sd: float | None


@dataclass(frozen=True)
class Comparison:
    variable: str
    time_point: str
    arms: dict[str, ArmSummary]
    test: str
    statistic: float | None
    p: float | None


def _values(rows: Sequence[dict[str, Any]], variable: str, point: str, arm: str) -> list[float]:
    out = []
    for row in rows:
        value = row.get(variable, "")
        if row["time_point"] == point and row["arm"] == arm and value not in ("", None):
            out.append(float(value))
    return out


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def compare(
    rows: Sequence[dict[str, Any]], variable: str, point: str, arms: Sequence[str]
) -> Comparison:
    """Mean (SD) per arm and the test between arms (None when a group has under 2 values)."""
    groups = {arm: _values(rows, variable, point, arm) for arm in arms}
    summary = {
        arm: ArmSummary(
            n=len(values),
            mean=statistics.fmean(values) if values else None,
            sd=statistics.stdev(values) if len(values) > 1 else None,
        )
        for arm, values in groups.items()
    }
    usable = [values for values in groups.values() if len(values) > 1]
    if len(usable) < 2 or len(usable) < len(arms):
        return Comparison(variable, point, summary, "", None, None)
    if len(arms) == 2:
        result = stats.ttest_ind(usable[0], usable[1], equal_var=False)
        name = "Welch t"
    else:
        result = stats.f_oneway(*usable)
        name = "ANOVA F"
    return Comparison(
        variable, point, summary, name, _finite(result.statistic), _finite(result.pvalue)
    )


def retention(rows: Sequence[dict[str, Any]], point: str, arms: Sequence[str]) -> Comparison:
    """Share still followed per arm at `point`, by a chi-square test of the 2 x k table."""
    table = []
    summary = {}
    for arm in arms:
        kept = [int(r["retained"]) for r in rows if r["time_point"] == point and r["arm"] == arm]
        summary[arm] = ArmSummary(len(kept), statistics.fmean(kept) if kept else None, None)
        table.append([sum(kept), len(kept) - sum(kept)])
    columns_used = all(sum(column) > 0 for column in zip(*table, strict=True))
    if len(table) < 2 or not all(sum(r) > 0 for r in table) or not columns_used:
        return Comparison("retained", point, summary, "", None, None)
    result = stats.chi2_contingency(table)
    return Comparison(
        "retained", point, summary, "chi-square", float(result.statistic), float(result.pvalue)
    )


def _number(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _plot(comparisons: Sequence[Comparison], arms: Sequence[str]) -> str:
    """Mean adherence by arm at each time point, with SD bars, as inline SVG."""
    figure, axes = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / max(1, len(arms))
    for i, arm in enumerate(arms):
        means = [c.arms[arm].mean or 0.0 for c in comparisons]
        sds = [c.arms[arm].sd or 0.0 for c in comparisons]
        where = [x + i * width for x in range(len(comparisons))]
        axes.bar(where, means, width, yerr=sds, capsize=3, label=arm)
    axes.set_xticks([x + width * (len(arms) - 1) / 2 for x in range(len(comparisons))])
    axes.set_xticklabels([c.time_point for c in comparisons])
    axes.set_ylabel(comparisons[0].variable if comparisons else "")
    axes.set_ylim(0, 1.05)
    axes.legend()
    figure.tight_layout()
    out = io.StringIO()
    figure.savefig(out, format="svg")
    plt.close(figure)
    svg = out.getvalue()
    return svg[svg.index("<svg") :]  # drop the XML prologue: the SVG sits inside HTML


def _table(comparisons: Sequence[Comparison], arms: Sequence[str], rate: bool = False) -> str:
    head = "".join(f"<th scope='col'>{escape(arm)}</th>" for arm in arms)
    lines = [
        f"<table><thead><tr><th scope='col'>variable</th><th scope='col'>time point</th>{head}"
        "<th scope='col'>test</th><th scope='col'>statistic</th><th scope='col'>p</th></tr>"
        "</thead><tbody>"
    ]
    for c in comparisons:
        cells = ""
        for arm in arms:
            s = c.arms[arm]
            shown = (
                f"{_number(s.mean)} (n={s.n})"
                if rate or s.sd is None
                else f"{_number(s.mean)} ({_number(s.sd)}), n={s.n}"
            )
            cells += f"<td>{escape(shown)}</td>"
        lines.append(
            f"<tr><td>{escape(c.variable)}</td><td>{escape(c.time_point)}</td>{cells}"
            f"<td>{escape(c.test)}</td><td>{_number(c.statistic)}</td><td>{_number(c.p, 4)}</td>"
            "</tr>"
        )
    lines.append("</tbody></table>")
    return "".join(lines)


def render(
    flow: FlowOut,
    unit: str,
    rows: Sequence[dict[str, Any]],
    header: Sequence[str],
    time_points: Sequence[str],
) -> str:
    arms = [arm.arm for arm in flow.arms]
    scores = [name for name in header if "." in name]
    reached = [p for p in time_points if any(r["time_point"] == p for r in rows)]
    baseline = reached[:1]
    later = reached[1:]
    flow_rows = "".join(
        f"<tr><td>{escape(a.arm)}</td><td>{a.allocated}</td>"
        f"<td>{escape(', '.join(f'{k} {n}' for k, n in sorted(a.lost.items())) or '0')}</td>"
        f"<td>{a.followed}</td></tr>"
        for a in flow.arms
    )
    variables = [*CONTINUOUS, *scores]
    base = [compare(rows, v, p, arms) for p in baseline for v in variables]
    outcomes = [compare(rows, v, p, arms) for p in later for v in variables]
    kept = [retention(rows, p, arms) for p in later]
    adherence = [c for c in outcomes if c.variable == "adherence"]
    caution = (
        "<p>This study randomised clinics: these tests treat patients as independent and so "
        "overstate certainty; use a model that accounts for clinics.</p>"
        if unit == "clinic"
        else ""
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Study report: {escape(flow.study)}</title>"
        "<style>body{font-family:sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}"
        "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #999;"
        "padding:.2rem .5rem;text-align:right}</style></head><body>"
        f"<h1>Study report: {escape(flow.study)}</h1>"
        "<h2>Flow</h2>"
        f"<p>Enrolled {flow.enrolled}; consented {flow.consented}; baseline recorded "
        f"{flow.baseline}; randomised {flow.randomised}; not randomised {flow.not_randomised}.</p>"
        "<table><thead><tr><th scope='col'>arm</th><th scope='col'>allocated</th>"
        "<th scope='col'>lost (reasons)</th><th scope='col'>followed</th></tr></thead>"
        f"<tbody>{flow_rows}</tbody></table>"
        "<h2>Baseline by arm</h2>"
        f"{_table(base, arms)}"
        "<h2>Outcomes by arm</h2>"
        f"{caution}{_table(outcomes, arms)}"
        "<h3>Retention</h3>"
        f"{_table(kept, arms, rate=True)}"
        + (
            f"<h3>Adherence by arm</h3><figure>{_plot(adherence, arms)}</figure>"
            if adherence
            else ""
        )
        + "<p>Mean (SD), n; Welch's t test (two arms) or one-way ANOVA; retention: share "
        "followed, chi-square test. Descriptive: no adjustment for multiple comparisons.</p>"
        "</body></html>"
    )
