"""Where to look next: a space-filling first pass, then a climb on the measured score, and
the bisection step that shrinking and boundary mode share. Pure functions of a seeded
``random.Random``: no runs, no clock.

- ``first_pass``: a Latin hypercube of ``n`` points (each numeric axis cut into ``n`` equal
  strata, one point in each, the strata paired at random across axes), choose axes cycled
  through their options, in random order. With one axis this is a stratified sample: the
  first ``n`` runs cover the whole range.
- ``climb``: from the best example so far (highest score), one coordinate step at a time,
  up and down every axis by ``step`` (a fraction of the axis), halving it when no unseen
  neighbour is left; choose axes move to their other options.
- ``next_point``: one step of a safeguarded secant bisection between a passing ``lo`` and a
  failing ``hi``: interpolate to where the score crosses ``threshold`` when both ends have
  a score, else the midpoint; kept at least ``margin`` inside the bracket, so that an exact
  interpolation is followed by a point just across it and the bracket closes in two runs.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence

from rpochaos.search.space import Candidate, Space, Value


def drop_sets(space: Space) -> list[frozenset[str]]:
    """Every allowed set of optional steps to leave out, smallest first."""
    out: list[frozenset[str]] = []
    for k in range(len(space.optional) + 1):
        for combo in itertools.combinations(space.optional, k):
            if space.allowed(frozenset(combo)):
                out.append(frozenset(combo))
    return out


def first_pass(space: Space, n: int, rng: random.Random) -> list[Candidate]:
    """``n`` candidates spread over the space (see the module docstring). Every step is kept
    when that is allowed; otherwise the allowed drop sets are cycled through."""
    if n <= 0:
        return []
    drops = drop_sets(space) or [frozenset()]
    columns: dict[str, list[Value]] = {}
    for d in space.dimensions:
        if d.numeric:
            strata = list(range(n))
            rng.shuffle(strata)
            columns[d.name] = [d.in_stratum(s, n, rng.random()) for s in strata]
        else:
            start = rng.randrange(len(d.options))
            columns[d.name] = [d.options[(start + i) % len(d.options)] for i in range(n)]
    keep_all = frozenset() in drops
    out: list[Candidate] = []
    for i in range(n):
        cycle = not keep_all or not space.dimensions  # nothing else would vary
        dropped = drops[i % len(drops)] if cycle else frozenset()
        out.append(Candidate({name: col[i] for name, col in columns.items()}, dropped))
    return out


def neighbours(space: Space, c: Candidate, step: float) -> list[Candidate]:
    """The coordinate neighbours of ``c`` at ``step`` (a fraction of each numeric axis):
    up first (a larger fault), then down; other options of choose axes; other drop sets."""
    out: list[Candidate] = []
    for d in space.dimensions:
        v = c.values[d.name]
        if d.numeric:
            u = d.fraction(v)
            for nu in (u + step, u - step):
                if 0.0 <= nu <= 1.0:
                    out.append(Candidate({**c.values, d.name: d.at(nu)}, c.dropped))
        else:
            for o in d.options:
                if o != v:
                    out.append(Candidate({**c.values, d.name: o}, c.dropped))
    for dropped in drop_sets(space):
        if dropped != c.dropped:
            out.append(Candidate(dict(c.values), dropped))
    return out


def climb(
    space: Space,
    scored: Sequence[tuple[Candidate, float | None]],
    seen: Iterable[str],
    rng: random.Random,
) -> Candidate | None:
    """The next unseen candidate: a neighbour of the best scored one, the step halving from
    1/4 down to 1/64 of an axis; a random point when every neighbour was tried; None when the
    space has nothing left to try (a finite space of choose axes and drop sets)."""
    tried = set(seen)
    ranked = sorted(
        (pair for pair in scored if pair[1] is not None), key=lambda p: p[1] or 0.0, reverse=True
    )
    step = 0.25
    while step >= 1 / 64:
        for best, _ in ranked[:3]:
            for nb in neighbours(space, best, step):
                if nb.key not in tried:
                    return nb
        step /= 2
    if not any(d.numeric for d in space.dimensions):
        return None
    for _ in range(100):
        c = first_pass(space, 1, rng)[0]
        if c.key not in tried:
            return c
    return None


def next_point(
    lo: float,
    hi: float,
    s_lo: float | None,
    s_hi: float | None,
    threshold: float | None,
    margin: float,
) -> float:
    """One safeguarded secant step between ``lo`` (passing, score ``s_lo``) and ``hi``
    (failing, ``s_hi``); ``lo`` may be above ``hi``. The point is at least ``margin`` and at
    least a tenth of the bracket inside it (half the bracket when it is narrower)."""
    width = abs(hi - lo)
    mid = (lo + hi) / 2
    guess = mid
    if threshold is not None and s_lo is not None and s_hi is not None and s_hi != s_lo:
        guess = lo + (threshold - s_lo) * (hi - lo) / (s_hi - s_lo)
    inset = min(max(margin, width / 10), width / 2)
    low_end, high_end = min(lo, hi) + inset, max(lo, hi) - inset
    return min(max(guess, low_end), high_end)
