"""Shrinking a failing candidate to a smaller one that still fails (docs/search.md).

The rules, in order, each keeping a smaller candidate only when a ``Probe`` says it still
fails (at least M of K repeats):

1. drop steps: leave out each optional step in turn;
2. shrink numbers toward their lower bounds: every numeric dimension (a fault's length, a
   magnitude, a start -- a smaller start is an earlier one) is first tried at its LOW, then
   bisected between the highest value known to pass and the smallest known to fail, with the
   secant step of ``strategy.next_point`` on the score, until the bracket is narrower than
   ``resolution`` of the axis or ``relative`` of the failing value, whichever is tighter.

Everything stops at the wall-clock cap (``deadline``, checked before each probe) or after
``max_runs`` runs. The result carries the runs the final candidate got, from which the
caller reports its reproduction rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rpochaos.search.outcome import Probe, Verdicts
from rpochaos.search.space import Candidate, Dimension, Space
from rpochaos.search.strategy import next_point


@dataclass
class Shrunk:
    """The smallest candidate that still failed, the runs it got, and what was tried."""

    candidate: Candidate
    verdicts: Verdicts
    steps: list[str] = field(default_factory=list)  # one line per accepted change
    stopped: str = ""  # why shrinking stopped early ('' = every rule ran to its end)


@dataclass
class Shrinker:
    space: Space
    probe: Probe
    #: the score at which the verdict flips (window/rpo: 1), for the secant step; None: midpoints
    threshold: float | None = 1.0
    resolution: float = 0.025
    #: ... or narrower than this share of the smallest failing value, whichever is tighter
    relative: float = 0.08
    deadline: float = float("inf")  # on ``clock``
    max_runs: int = 40
    clock: Callable[[], float] = time.monotonic
    runs: int = 0

    def _out_of_time(self) -> str:
        if self.clock() >= self.deadline:
            return "the wall-clock cap"
        if self.runs >= self.max_runs:
            return f"the cap of {self.max_runs} shrink runs"
        return ""

    def _probe(self, c: Candidate) -> Verdicts:
        v = self.probe(c, "shrink")
        self.runs += v.runs
        return v

    def shrink(self, found: Candidate, seen: Verdicts) -> Shrunk:
        """Shrink ``found`` (which failed in ``seen``) by the rules of the module docstring."""
        out = Shrunk(found, seen)
        for name in self.space.optional:
            if name in out.candidate.dropped:
                continue
            c = Candidate(dict(out.candidate.values), out.candidate.dropped | {name})
            if not self.space.allowed(c.dropped):
                continue
            if stop := self._out_of_time():
                out.stopped = stop
                return out
            v = self._probe(c)
            if self.probe.failing(v):
                out.candidate, out.verdicts = c, v
                out.steps.append(f"dropped {name}: still fails {v.rate}")
        for d in self.space.dimensions:
            if d.numeric and (stop := self._bisect(d, out)):
                out.stopped = stop
                return out
        return out

    def _bisect(self, d: Dimension, out: Shrunk) -> str:
        """Move ``d`` toward its LOW while the candidate still fails; '' or why it stopped."""
        value = out.candidate.values[d.name]
        assert isinstance(value, float)
        if value <= d.low:
            return ""
        span_tol = self.resolution * (d.high - d.low)

        def at(x: float) -> Candidate:
            return Candidate({**out.candidate.values, d.name: d.clamp(x)}, out.candidate.dropped)

        hi, s_hi = value, out.verdicts.score
        if stop := self._out_of_time():
            return stop
        v = self._probe(at(d.low))
        if self.probe.failing(v):
            out.candidate, out.verdicts = at(d.low), v
            out.steps.append(f"{d.name} -> LOW {d.shown(d.low)}: still fails {v.rate}")
            return ""
        lo, s_lo = d.low, v.score
        while hi - lo > (tol := max(min(span_tol, self.relative * abs(hi)), 0.001)):
            if stop := self._out_of_time():
                return stop
            x = d.clamp(next_point(lo, hi, s_lo, s_hi, self.threshold, 0.45 * tol))
            if x <= lo or x >= hi:
                break
            v = self._probe(at(x))
            if self.probe.failing(v):
                hi, s_hi = x, v.score
                out.candidate, out.verdicts = at(x), v
                out.steps.append(f"{d.name} -> {d.shown(x)}: still fails {v.rate}")
            else:
                lo, s_lo = x, v.score
        return ""
