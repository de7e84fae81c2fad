"""The allocation algorithm, driven as a pure function with a seeded generator: balance
within each stratum, arm frequencies (chi-square), clusters, and what a stratum's state
reveals."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from scipy.stats import chisquare

from services.scheduler.studies.allocation import Remaining, Scheme, allocate_clusters, draw

TWO_ARMS = Scheme(("intervention", "control"), (1, 1), (2, 4, 6))
STRATA = [f"clinic={c}|sex={s}" for c in range(1, 4) for s in ("male", "female")]


def _simulate(scheme: Scheme, n: int, seed: int) -> tuple[Counter[str], dict[str, int]]:
    """n allocations to patients arriving in random strata; the largest imbalance seen."""
    rng = random.Random(seed)
    states: dict[str, Remaining | None] = dict.fromkeys(STRATA)
    counts: dict[str, Counter[str]] = {s: Counter() for s in STRATA}
    worst = dict.fromkeys(STRATA, 0)
    total: Counter[str] = Counter()
    unit = sum(scheme.ratios)
    for _ in range(n):
        stratum = rng.choice(STRATA)
        arm, states[stratum] = draw(scheme, states[stratum], rng)
        counts[stratum][arm] += 1
        total[arm] += 1
        seen = sum(counts[stratum].values())
        # How far each arm is from its share so far, in places of a block.
        for name, ratio in zip(scheme.arms, scheme.ratios, strict=True):
            off = abs(counts[stratum][name] * unit - seen * ratio) / unit
            worst[stratum] = max(worst[stratum], round(off, 6))
    return total, worst


def test_two_arms_stay_within_half_the_largest_block_and_pass_chi_square() -> None:
    total, worst = _simulate(TWO_ARMS, 10_000, seed=21)
    assert sum(total.values()) == 10_000
    for stratum, imbalance in worst.items():
        # |n_intervention - n_control| = 2 * (distance from the share) <= 6 / 2
        assert 2 * imbalance <= max(TWO_ARMS.block_sizes) / 2, stratum
    assert max(worst.values()) > 0  # the check above is not vacuous
    result = chisquare([total["intervention"], total["control"]])
    assert result.pvalue > 0.01


def test_three_arms_with_a_ratio_stay_balanced_and_follow_the_ratio() -> None:
    scheme = Scheme(("a", "b", "c"), (2, 1, 1), (4, 8, 12))
    total, worst = _simulate(scheme, 10_000, seed=7)
    for stratum, imbalance in worst.items():
        assert imbalance <= max(scheme.block_sizes) / 2, stratum
    expected = [10_000 * r / 4 for r in scheme.ratios]
    result = chisquare([total[a] for a in scheme.arms], f_exp=expected)
    assert result.pvalue > 0.01


def test_every_block_is_complete_and_its_size_varies() -> None:
    rng = random.Random(3)
    state: Remaining | None = None
    sizes: Counter[int] = Counter()
    block: list[str] = []
    for _ in range(3000):
        arm, state = draw(TWO_ARMS, state, rng)
        block.append(arm)
        if not any(state.values()):
            assert block.count("intervention") == block.count("control")
            sizes[len(block)] += 1
            block = []
    assert set(sizes) == {2, 4, 6}


def test_the_state_holds_counts_only_never_an_order() -> None:
    """What is stored per stratum: places left per arm. The order of the next draws is not
    in it: two generators from the same state go different ways."""
    state: Remaining = {"intervention": 3, "control": 3}
    assert set(state) == set(TWO_ARMS.arms)
    runs = set()
    for seed in range(40):
        rng, left, seq = random.Random(seed), dict(state), []
        for _ in range(6):
            arm, left = draw(TWO_ARMS, left, rng)
            seq.append(arm)
        runs.add(tuple(seq))
    assert len(runs) > 10


def test_clusters_are_balanced_within_each_stratum() -> None:
    rng = random.Random(5)
    for _ in range(200):
        clinics = [(c, "urban" if c <= 4 else "rural") for c in range(1, 9)]
        arms = allocate_clusters(TWO_ARMS, clinics, rng)
        assert set(arms) == set(range(1, 9))
        for stratum in ("urban", "rural"):
            got = Counter(arms[c] for c, s in clinics if s == stratum)
            assert got["intervention"] == got["control"] == 2
    six = allocate_clusters(TWO_ARMS, [(c, "") for c in range(6)], rng)
    assert Counter(six.values()) == {"intervention": 3, "control": 3}
    five = allocate_clusters(TWO_ARMS, [(c, "") for c in range(5)], rng)
    assert sorted(Counter(five.values()).values()) == [2, 3]


@pytest.mark.parametrize(
    ("arms", "ratios", "sizes"),
    [(("a",), (1,), (2,)), (("a", "b"), (1, 1), (3,)), (("a", "b"), (0, 1), (2,))],
)
def test_a_scheme_refuses_what_cannot_balance(
    arms: tuple[str, ...], ratios: tuple[int, ...], sizes: tuple[int, ...]
) -> None:
    with pytest.raises(ValueError, match=r"arm|multiple|ratio"):
        Scheme(arms, ratios, sizes)
