"""Deterministic, seeded, category-stratified sampling of benchmark items."""

from __future__ import annotations

import random
from collections.abc import Sequence

from r1lib.benchmarks.base import Item

Stratum = tuple[str, ...]


def stratum_of(item: Item, by: Sequence[str] | None) -> Stratum:
    """The item's stratum: the values of the ``by`` category fields (all fields when ``by`` is None)."""
    if by is None:
        return tuple(f"{k}={v}" for k, v in sorted(item.category.items()))
    return tuple(str(item.category.get(field, "")) for field in by)


def stratified_sample(items: Sequence[Item], size: int, *, seed: int,
                      by: Sequence[str] | None = None) -> list[Item]:
    """Pick ``size`` items, spread over the strata in proportion to their sizes.

    Each stratum's share is proportional to its size (largest-remainder rounding); when ``size`` is
    at least the number of strata, every stratum gets at least one item. With fewer
    items than strata, ``size`` strata are drawn at random, one item each. Within a stratum the
    items are drawn at random. The result keeps the input order and depends only on the items,
    ``size``, ``seed`` and ``by``.
    """
    if size < 0:
        raise ValueError("size must be non-negative")
    if size >= len(items):
        return list(items)
    strata: dict[Stratum, list[int]] = {}
    for index, item in enumerate(items):
        strata.setdefault(stratum_of(item, by), []).append(index)
    keys = sorted(strata)
    quota = _allocate({k: len(strata[k]) for k in keys}, size, random.Random(f"{seed}:strata"))
    chosen: list[int] = []
    for key in keys:
        if quota[key]:
            rng = random.Random(f"{seed}:{key}")
            chosen.extend(rng.sample(strata[key], quota[key]))
    return [items[i] for i in sorted(chosen)]


def _allocate(sizes: dict[Stratum, int], size: int, rng: random.Random) -> dict[Stratum, int]:
    """How many items each stratum contributes: proportional shares rounded by largest remainder,
    then every empty stratum gets one item from the largest allocation (sum = ``size``)."""
    keys = list(sizes)
    if size < len(keys):
        picked = set(rng.sample(keys, size))
        return {k: int(k in picked) for k in keys}
    total = sum(sizes.values())
    shares = {k: size * sizes[k] / total for k in keys}
    quota = {k: int(shares[k]) for k in keys}
    by_remainder = sorted(keys, key=lambda k: (-(shares[k] - quota[k]), keys.index(k)))
    for k in by_remainder[:size - sum(quota.values())]:
        quota[k] += 1
    for k in keys:
        if quota[k] == 0:
            donor = max(keys, key=lambda d: (quota[d], -keys.index(d)))
            quota[donor] -= 1
            quota[k] = 1
    return quota
