"""Boundary mode: where on one dimension the verdict flips (docs/search.md).

Both ends of the axis are probed first; if they agree there is no flip to find within it.
Otherwise the bracket [passing value, failing value] is narrowed with the secant step of
``strategy.next_point`` until its width is at most ``relative`` of its midpoint, or the
budget of runs is spent. The other dimensions keep the base candidate's values. The verdict
is assumed to flip once along the axis; the runs on each side are reported so that a
non-monotonic axis shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rpochaos.search.outcome import Probe, Verdicts
from rpochaos.search.space import Candidate, Dimension
from rpochaos.search.strategy import next_point


@dataclass
class Boundary:
    """The bracket found: ``passing`` and ``failing`` are the closest values known on each
    side (None when that side was never seen); ``points`` every value probed, in order."""

    dimension: str
    passing: float | None = None
    failing: float | None = None
    points: list[tuple[float, Verdicts]] = field(default_factory=list)
    runs: int = 0
    note: str = ""

    @property
    def estimate(self) -> float | None:
        """The bracket's midpoint (None without a bracket)."""
        if self.passing is None or self.failing is None:
            return None
        return (self.passing + self.failing) / 2

    @property
    def half_width(self) -> float | None:
        """Half the bracket, relative to its midpoint (the +- of ``estimate``)."""
        est = self.estimate
        if est is None or self.passing is None or self.failing is None or est == 0:
            return None
        return abs(self.failing - self.passing) / 2 / abs(est)


def find_boundary(
    d: Dimension,
    base: Candidate,
    probe: Probe,
    budget: int,
    threshold: float | None = 1.0,
    relative: float = 0.1,
) -> Boundary:
    """Bisect ``d`` (numeric) from ``base`` within ``budget`` runs (see the module docstring)."""
    out = Boundary(d.name)

    def run(x: float) -> Verdicts:
        v = probe(Candidate({**base.values, d.name: d.clamp(x)}, base.dropped), "boundary")
        out.points.append((d.clamp(x), v))
        out.runs += v.runs
        return v

    low, high = run(d.low), run(d.high)
    low_fails, high_fails = probe.failing(low), probe.failing(high)
    if low_fails == high_fails:
        word = "fail" if low_fails else "pass"
        out.note = f"both ends {word}: no flip of the verdict within [{d.low:g}, {d.high:g}]"
        if low_fails:
            out.failing = d.low
        else:
            out.passing = d.high
        return out
    p, f = (d.low, d.high) if high_fails else (d.high, d.low)
    s_p, s_f = (low.score, high.score) if high_fails else (high.score, low.score)
    while out.runs < budget:
        width = abs(f - p)
        if width <= relative * abs((p + f) / 2) or width <= 0.001:
            break
        x = d.clamp(next_point(p, f, s_p, s_f, threshold, 0.45 * relative * abs((p + f) / 2)))
        if x in (p, f):
            break
        v = run(x)
        if probe.failing(v):
            f, s_f = x, v.score
        else:
            p, s_p = x, v.score
    out.passing, out.failing = p, f
    if abs(f - p) > relative * abs((p + f) / 2):
        out.note = f"the budget ran out with the bracket at +-{out.half_width or 0:.0%}"
    return out
