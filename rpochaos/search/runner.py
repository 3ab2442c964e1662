"""The real ``Evaluate``: each example is a full run (``rpochaos.run.run``) of the candidate
written as a fixed scenario file, with its own run directory under the search's directory
(so the runs index lists it with every other run).

Layout of a search directory: ``candidates/NNN.yaml`` (the file each example ran),
``examples/NNN-PHASE/`` (its run directory), and the search's own outputs (``output``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rpochaos.errors import ScenarioError
from rpochaos.run import run
from rpochaos.search.outcome import Outcome, Phase, score_of
from rpochaos.search.space import Candidate, Space


@dataclass
class RealRuns:
    """``RealRuns(space, out_dir)(candidate, phase) -> Outcome``, one real run per call."""

    space: Space
    out_dir: Path
    backend: str | None = None
    html: bool = True
    log: Callable[[str], None] = lambda _: None
    count: int = 0

    def __call__(self, c: Candidate, phase: Phase) -> Outcome:
        self.count += 1
        n = f"{self.count:03d}"
        cand = self.out_dir / "candidates" / f"{n}.yaml"
        cand.parent.mkdir(parents=True, exist_ok=True)
        header = (
            f"# candidate {n} ({phase}) of a search of {self.space.path}\n"
            f"# {self.space.describe(c)}\n"
        )
        cand.write_text(self.space.text(c, header), encoding="utf-8")
        run_dir = self.out_dir / "examples" / f"{n}-{phase}"
        try:
            r = run(cand, out=run_dir, backend=self.backend, html=self.html, log=self.log)
        except ScenarioError as e:
            return Outcome("INVALID", note=str(e))
        res = r.result
        writes = res.get("writes")
        lost = writes.get("lost") if isinstance(writes, dict) else None
        window = res.get("data_loss_window_s")
        rto = res.get("rto_s")
        return Outcome(
            verdict=str(res.get("verdict", "UNKNOWN")),
            score=score_of(res, self.space.score, self.space.rpo, self.space.max_rto),
            window=float(window) if isinstance(window, int | float) else None,
            lost=lost if isinstance(lost, int) else None,
            rto=float(rto) if isinstance(rto, int | float) else None,
            run_dir=str(r.run_dir),
        )
