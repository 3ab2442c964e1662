"""The search loop: replay the stored failures, a space-filling first pass, a climb on the
score, then shrinking and a reproduction rate (docs/search.md). Pure logic over an
``Evaluate``: the caller decides what a run is (``runner`` for real runs, a fake score
function in unit tests).

``Search.run()`` spends at most ``budget`` runs looking for a failing candidate (the replayed
ones included) and stops at the first failure. Shrinking and the reproduction runs are outside
that budget, under their own caps (``shrink_seconds`` of wall clock, ``max_shrink_runs``).
The reproduction rate of the final candidate is its failing runs over ``repeats`` runs (the
probes' runs of that very candidate count), never a claim that it always fails.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rpochaos.search.boundary import Boundary, find_boundary
from rpochaos.search.database import StoredFailure
from rpochaos.search.outcome import Evaluate, Example, Outcome, Phase, Probe, Verdicts
from rpochaos.search.shrink import Shrinker, Shrunk
from rpochaos.search.space import Candidate, Space
from rpochaos.search.strategy import climb, first_pass

Status = str  # 'found' | 'none' | 'unknown'


@dataclass
class SearchResult:
    """What a search did: every example in order, and the failure if one was found."""

    examples: list[Example] = field(default_factory=list)
    found: Candidate | None = None
    shrunk: Shrunk | None = None
    reproduction: Verdicts | None = None
    boundary: Boundary | None = None
    replayed: int = 0
    searched: int = 0  # runs spent looking (the budget's share)

    @property
    def status(self) -> Status:
        """'found' (a failing schedule), 'none' (every example ran and none failed) or
        'unknown' (none failed but some example has no verdict)."""
        if self.found is not None:
            return "found"
        if any(e.outcome.verdict not in ("PASS", "FAIL") for e in self.examples):
            return "unknown"
        return "none"

    @property
    def final(self) -> Candidate | None:
        return self.shrunk.candidate if self.shrunk is not None else self.found


@dataclass
class Search:
    space: Space
    evaluate: Evaluate
    budget: int
    repeats: int = 3
    min_fails: int | None = None  # None: a majority of repeats
    shrink_seconds: float = 900.0
    max_shrink_runs: int = 40
    seed: int = 0
    stored: list[StoredFailure] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic
    log: Callable[[str], None] = lambda _: None
    result: SearchResult = field(default_factory=SearchResult)

    @property
    def threshold(self) -> float | None:
        """The score at which the verdict flips, when the score says it (window/rpo: 1)."""
        return 1.0 if self.space.score == "window/rpo" else None

    def _evaluate(self, c: Candidate, phase: Phase) -> Outcome:
        o = self.evaluate(c, phase)
        n = len(self.result.examples) + 1
        self.result.examples.append(Example(n, phase, c, o))
        score = "-" if o.score is None else f"{o.score:.3g}"
        self.log(f"#{n} {phase}: {self.space.describe(c)} -> {o.verdict} (score {score})")
        return o

    def _probe(self, repeats: int) -> Probe:
        need = self.min_fails if self.min_fails is not None else repeats // 2 + 1
        return Probe(self._evaluate, repeats, min(need, repeats))

    def run(self) -> SearchResult:
        """Look for a failing candidate within the budget; shrink it if one fails."""
        r = self.result
        rng = random.Random(self.seed)
        seen: set[str] = set()
        scored: list[tuple[Candidate, float | None]] = []
        found_minimal = False

        def attempt(c: Candidate, phase: Phase) -> bool:
            seen.add(c.key)
            o = self._evaluate(c, phase)
            r.searched += 1
            scored.append((c, o.score))
            if o.failed:
                r.found = c
            return o.failed

        for stored in self.stored:
            if r.searched >= self.budget or stored.candidate.key in seen:
                continue
            c = stored.candidate
            if set(c.values) != set(self.space.names) or not (
                not c.dropped or self.space.allowed(c.dropped)
            ):
                continue
            r.replayed += 1
            if attempt(stored.candidate, "replay"):
                found_minimal = stored.minimal
                break
        if r.found is None:
            n_first = min(self.budget - r.searched, max(4, 2 * len(self.space.dimensions)))
            for c in first_pass(self.space, n_first, rng):
                if c.key not in seen and attempt(c, "explore"):
                    break
        while r.found is None and r.searched < self.budget:
            nxt = climb(self.space, scored, seen, rng)
            if nxt is None:
                break
            attempt(nxt, "climb")
        if r.found is None:
            return r
        first = Verdicts([r.examples[-1].outcome])
        if found_minimal:
            r.shrunk = Shrunk(r.found, first, ["replayed the stored minimal failure"])
        else:
            shrinker = Shrinker(
                self.space,
                self._probe(self.repeats),
                threshold=self.threshold,
                deadline=self.clock() + self.shrink_seconds,
                max_runs=self.max_shrink_runs,
                clock=self.clock,
            )
            r.shrunk = shrinker.shrink(r.found, first)
        final = r.shrunk.candidate
        runs = Verdicts(list(r.shrunk.verdicts.outcomes))
        while runs.runs < self.repeats:
            runs.outcomes.append(self._evaluate(final, "repro"))
        r.reproduction = runs
        return r

    def boundary(self, dimension: str, base: Candidate | None = None) -> SearchResult:
        """Boundary mode on ``dimension`` within the budget; the other dimensions keep
        ``base``'s values (default: the newest stored failure's, else every axis at HIGH)."""
        d = self.space.dimension(dimension)
        if not d.numeric:
            raise KeyError(f"{dimension!r} is a choice of targets, not a numeric dimension")
        if base is None:
            usable = [
                s.candidate for s in self.stored if set(s.candidate.values) == set(self.space.names)
            ]
            base = usable[0] if usable else self.space.full()
        b = find_boundary(
            d, base, self._probe(self.repeats), self.budget, self.threshold, relative=0.15
        )
        r = self.result
        r.boundary, r.searched = b, b.runs
        if b.failing is not None:  # the smallest failing value known, with its runs
            runs = next(v for x, v in reversed(b.points) if x == b.failing)
            r.found = Candidate({**base.values, d.name: b.failing}, base.dropped)
            r.shrunk = Shrunk(r.found, runs, [f"{d.name}: the failing end of the bracket"])
            r.reproduction = runs
        return r
