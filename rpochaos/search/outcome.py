"""What one example (one full run of a candidate) measured, and how repeats are judged.

``Evaluate`` is the seam between the search logic and the runs: the real one
(``rpochaos.search.runner``) runs the candidate with ``rpochaos.run.run``; unit tests pass a
fake score function. ``Probe`` asks "does this candidate still fail?" with K repeats and an
early stop: it fails once ``min_fails`` runs failed, and passes once that can no longer happen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from rpochaos.search.space import Candidate, ScoreName

#: the phases an example is run in
Phase = str  # replay | explore | climb | shrink | repro | boundary


@dataclass(frozen=True)
class Outcome:
    """One run's verdict (PASS, FAIL, UNKNOWN, or INVALID for a candidate the loader
    rejected) and what it measured (None: not measured)."""

    verdict: str
    score: float | None = None
    window: float | None = None
    lost: int | None = None
    rto: float | None = None
    run_dir: str | None = None
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.verdict == "FAIL"


@dataclass(frozen=True)
class Example:
    """One example of a search, in the order they ran (``n`` from 1)."""

    n: int
    phase: Phase
    candidate: Candidate
    outcome: Outcome


Evaluate = Callable[[Candidate, Phase], Outcome]


def score_of(
    result: Mapping[str, object], score: ScoreName, rpo: float, max_rto: float | None
) -> float | None:
    """The score of a result.json: window/RPO (0 when nothing was lost and no window was
    measured), lost acknowledged writes, or the RTO (over max_rto when declared)."""
    writes = result.get("writes")
    lost = writes.get("lost") if isinstance(writes, dict) else None
    if score == "lost":
        return float(lost) if isinstance(lost, int) else None
    if score == "rto":
        rto = result.get("rto_s")
        if not isinstance(rto, int | float):
            return None
        return float(rto) / max_rto if max_rto else float(rto)
    window = result.get("data_loss_window_s")
    if isinstance(window, int | float):
        return float(window) / rpo if rpo > 0 else float(window)
    return 0.0 if lost == 0 else None


@dataclass
class Verdicts:
    """The runs one candidate got in one probe."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def fails(self) -> int:
        return sum(o.failed for o in self.outcomes)

    @property
    def runs(self) -> int:
        return len(self.outcomes)

    @property
    def score(self) -> float | None:
        """The mean score of the runs that measured one."""
        scores = [o.score for o in self.outcomes if o.score is not None]
        return sum(scores) / len(scores) if scores else None

    @property
    def rate(self) -> str:
        """'2/3': failing runs over runs."""
        return f"{self.fails}/{self.runs}"


@dataclass(frozen=True)
class Probe:
    """Judge a candidate by up to ``repeats`` runs: it fails when at least ``min_fails`` of
    them fail (stopping as soon as that is decided either way)."""

    evaluate: Evaluate
    repeats: int = 3
    min_fails: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.min_fails <= self.repeats:
            raise ValueError(f"min_fails {self.min_fails} not in 1..repeats {self.repeats}")

    def __call__(self, c: Candidate, phase: Phase, seen: Verdicts | None = None) -> Verdicts:
        """``seen``: runs of ``c`` already made (counted, and extended in place)."""
        v = seen if seen is not None else Verdicts()
        while v.runs < self.repeats and self.undecided(v):
            v.outcomes.append(self.evaluate(c, phase))
        return v

    def undecided(self, v: Verdicts) -> bool:
        passes = v.runs - v.fails
        return v.fails < self.min_fails and passes <= self.repeats - self.min_fails

    def failing(self, v: Verdicts) -> bool:
        return v.fails >= self.min_fails
