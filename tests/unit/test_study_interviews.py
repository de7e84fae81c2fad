"""Choosing interviewees: levels of use from lessons opened, a spread over the levels, and
the same list again from the same seed."""

from __future__ import annotations

from services.scheduler.studies.interviews import Level, choose, level_of


def test_levels_of_use() -> None:
    assert [level_of(0, 0), level_of(6, 0), level_of(6, 1), level_of(6, 4), level_of(6, 6)] == [
        "never",
        "never",
        "sometimes",
        "often",
        "often",
    ]


def test_the_choice_spreads_over_levels_and_repeats_from_its_seed() -> None:
    levels: dict[int, Level] = {}
    for pid in range(1, 41):  # 20 never, 15 sometimes, 5 often
        levels[pid] = "often" if pid <= 5 else "sometimes" if pid <= 20 else "never"
    chosen = choose(levels, 12, seed=20261203)
    assert len(chosen) == len(set(chosen)) == 12
    spread = [
        sum(1 for pid in chosen if levels[pid] == lv) for lv in ("often", "sometimes", "never")
    ]
    assert spread == [4, 4, 4]
    assert choose(dict(reversed(list(levels.items()))), 12, seed=20261203) == chosen
    assert choose(levels, 12, seed=7) != chosen

    few = {pid: lv for pid, lv in levels.items() if pid <= 2 or pid > 36}  # 2 often, 4 never
    picked = choose(few, 5, seed=1)
    assert sorted(levels[pid] for pid in picked) == ["never", "never", "never", "often", "often"]
    assert sorted(choose(few, 50, seed=1)) == sorted(few)  # fewer eligible than wanted: all
