"""Allocation: stratified permuted blocks with randomly varying block sizes, and clusters.

Pure functions over a block state and an injected generator, so that the statistical test
drives 10,000 allocations without a database; the service (studies/randomise.py) passes a
`secrets.SystemRandom` and keeps each stratum's state in a row it locks.

Why this is concealed: a block is never written out in advance. The state of a stratum is
only how many places of each arm are left in its current block; the next arm is drawn
from those places at the moment a patient is randomised (and randomising needs that
patient enrolled, consented and with a baseline), from the operating system's
cryptographic generator. The state lives server-side only: no route returns it, so
nobody can read which arm comes next or where a block ends, and the block sizes vary at
random, so counting past allocations does not reveal it either.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Remaining = dict[str, int]  # places of each arm left in a stratum's current block


@dataclass(frozen=True)
class Scheme:
    """The arms in order with their allocation ratio, and the block sizes to choose from
    (each a multiple of the sum of the ratios, so that every block is balanced)."""

    arms: tuple[str, ...]
    ratios: tuple[int, ...]
    block_sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.arms) < 2 or len(self.arms) != len(self.ratios):
            raise ValueError("a scheme needs two or more arms, each with a ratio")
        if min(self.ratios) < 1:
            raise ValueError("every ratio must be at least 1")
        unit = sum(self.ratios)
        if not self.block_sizes or any(size < unit or size % unit for size in self.block_sizes):
            raise ValueError(f"every block size must be a multiple of {unit}")

    def new_block(self, rng: random.Random) -> Remaining:
        multiple = rng.choice(self.block_sizes) // sum(self.ratios)
        return {arm: ratio * multiple for arm, ratio in zip(self.arms, self.ratios, strict=True)}


def draw(
    scheme: Scheme, remaining: Mapping[str, int] | None, rng: random.Random
) -> tuple[str, Remaining]:
    """The next arm in a stratum and the stratum's state after it.

    Drawing one place at random from those left is the same as walking a block shuffled
    in advance, but there is no order written down anywhere to read."""
    left = {arm: count for arm, count in (remaining or {}).items() if count > 0}
    if not left or set(left) - set(scheme.arms):
        left = scheme.new_block(rng)
    place = rng.randrange(sum(left.values()))
    for arm in scheme.arms:
        count = left.get(arm, 0)
        if place < count:
            left[arm] = count - 1
            return arm, left
        place -= count
    raise AssertionError("unreachable: the place is below the total")


def allocate_clusters(
    scheme: Scheme, clusters: Sequence[tuple[int, str]], rng: random.Random
) -> dict[int, str]:
    """Arms for a set of clusters (clinics), balanced within each stratum: in each stratum,
    clusters are taken in a random order and given arms from one block just large enough
    to hold them all (a multiple of the ratios), so a stratum's arms differ by at most
    what its size leaves over."""
    by_stratum: dict[str, list[int]] = {}
    for cluster, stratum in clusters:
        by_stratum.setdefault(stratum, []).append(cluster)
    unit = sum(scheme.ratios)
    arms: dict[int, str] = {}
    for members in by_stratum.values():
        order = list(members)
        rng.shuffle(order)
        size = -(-len(order) // unit) * unit
        one_block = Scheme(scheme.arms, scheme.ratios, (size,))
        state: Remaining | None = None
        for cluster in order:
            arm, state = draw(one_block, state, rng)
            arms[cluster] = arm
    return arms
