"""Search benchmark: runs used, and the boundary error, for boundaries at different points of
the space (docs/performance.md, "Search").

Run: ``.venv/bin/python bench/search.py [--real] [--rpos 0.5,1,2,4] [--noise 0.1]``.

- Default (the logic alone, seconds): the fake score of the unit tests (a FAKE score function,
  no run): window/RPO = length / boundary + uniform noise of +-``--noise``, on the async
  search scenario's axis [0.2 s, 6 s], for boundaries spread along it. For each, boundary
  mode (1 run per point, as ``--boundary`` does by default) and the default search (budget
  10, K = 3, then shrinking) are run, and printed: runs used, the bracket, its midpoint's
  error against the true boundary, and the shrunk length's error.
- ``--real``: the same on real runs of scenarios/search/async-partition-boundary.yaml, with
  its ``expect.rpo`` set to each of ``--rpos`` (the boundary moves with the RPO), boundary
  mode only (each run is ~15-30 s here). The true boundary of a real run is not known in
  advance: the reference is the length at which the fitted line window = a + b * length
  (least squares over every run of the benchmark) crosses the RPO.

Nothing is asserted; the figures go to stdout (and with ``--json FILE`` to that file).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rpochaos.search.boundary import find_boundary  # noqa: E402
from rpochaos.search.engine import Search  # noqa: E402
from rpochaos.search.outcome import Outcome, Probe  # noqa: E402
from rpochaos.search.space import Candidate, space_of  # noqa: E402

SCENARIO = ROOT / "scenarios" / "search" / "async-partition-boundary.yaml"
DIM = "cut.for"


def fake(boundary: float, noise: float, seed: int):  # type: ignore[no-untyped-def]
    """A FAKE score function: score = length / boundary +- noise; FAIL above 1."""
    rng = random.Random(seed)

    def evaluate(c: Candidate, phase: str) -> Outcome:
        v = c.values[DIM]
        assert isinstance(v, float)
        s = v / boundary + rng.uniform(-noise, noise)
        return Outcome("FAIL" if s > 1 else "PASS", s, window=s)

    return evaluate


def bench_fake(boundaries: list[float], noise: float, seeds: int) -> list[dict[str, object]]:
    space = space_of(SCENARIO)
    d = space.dimension(DIM)
    rows: list[dict[str, object]] = []
    for b in boundaries:
        b_runs, b_err, s_runs, s_err, found_in = [], [], [], [], []
        missed = 0
        for seed in range(seeds):
            res = find_boundary(d, space.full(), Probe(fake(b, noise, seed), 1, 1), 12, 1.0, 0.15)
            b_runs.append(res.runs)
            if res.estimate is None:
                missed += 1  # both ends gave the same verdict: no bracket to report
            else:
                b_err.append(abs(res.estimate - b) / b)
            r = Search(space, fake(b, noise, 100 + seed), budget=10, seed=seed).run()
            s_runs.append(len(r.examples))
            found_in.append(r.searched)
            final = r.final.values[DIM] if r.final else None
            s_err.append(abs(float(final) - b) / b if isinstance(final, float) else float("nan"))
        rows.append(
            {
                "boundary_s": b,
                "boundary_runs_max": max(b_runs),
                "boundary_runs_mean": sum(b_runs) / seeds,
                "boundary_error_max": max(b_err) if b_err else float("nan"),
                "no_bracket": missed,
                "found_within_max": max(found_in),
                "search_runs_mean": sum(s_runs) / seeds,
                "shrunk_error_max": max(s_err),
            }
        )
    return rows


def bench_real(rpos: list[float], budget: int) -> list[dict[str, object]]:
    from rpochaos.search.runner import RealRuns

    rows: list[dict[str, object]] = []
    points: list[tuple[float, float]] = []  # (length, window) of every run
    with tempfile.TemporaryDirectory(prefix="rpochaos-bench-search-") as tmp:
        for rpo in rpos:
            text = SCENARIO.read_text().replace("  rpo: 1s", f"  rpo: {round(rpo * 1000)}ms")
            path = Path(tmp) / f"rpo-{rpo:g}.yaml"
            path.write_text(text)
            space = space_of(path)
            runs = RealRuns(space, Path(tmp) / f"out-{rpo:g}", html=False)
            b = find_boundary(
                space.dimension(DIM), space.full(), Probe(runs, 1, 1), budget, 1.0, 0.15
            )
            for x, v in b.points:
                for o in v.outcomes:
                    if o.window is not None:
                        points.append((x, o.window))
            rows.append(
                {"rpo_s": rpo, "runs": b.runs, "passing_s": b.passing, "failing_s": b.failing,
                 "estimate_s": b.estimate, "note": b.note}
            )  # fmt: skip
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    intercept = my - slope * mx
    for row in rows:
        rpo = float(row["rpo_s"])  # type: ignore[arg-type]
        true = (rpo - intercept) / slope
        row["reference_s"] = round(true, 3)
        est = row["estimate_s"]
        row["error"] = None if est is None else abs(float(est) - true) / true  # type: ignore[arg-type]
    print(f"fitted: window = {intercept:.3f} s + {slope:.3f} x length ({n} runs)")
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--real", action="store_true", help="real runs (slow) instead of the fake")
    p.add_argument("--rpos", default="0.5,1,2,4", help="--real: the RPOs, in seconds")
    p.add_argument("--budget", type=int, default=12, help="--real: runs per boundary")
    p.add_argument("--boundaries", default="0.3,0.8,1,2,3.5,5.5", help="fake: in seconds")
    p.add_argument("--noise", type=float, default=0.1, help="fake: +- on the score")
    p.add_argument("--seeds", type=int, default=20, help="fake: searches per boundary")
    p.add_argument("--json", type=Path, help="also write the rows to this file")
    a = p.parse_args()
    if a.real:
        rows = bench_real([float(x) for x in a.rpos.split(",")], a.budget)
        print(
            f"{'RPO':>6} {'runs':>5} {'bracket':>17} {'estimate':>9} {'reference':>9} {'error':>7}"
        )
        for r in rows:
            err = "-" if r["error"] is None else f"{float(r['error']):.1%}"  # type: ignore[arg-type]
            print(
                f"{r['rpo_s']:>5}s {r['runs']:>5} [{r['passing_s']}, {r['failing_s']}] "
                f"{r['estimate_s']!s:>9} {r['reference_s']!s:>9} {err:>7}"
            )
    else:
        rows = bench_fake([float(x) for x in a.boundaries.split(",")], a.noise, a.seeds)
        print(f"fake score, noise +-{a.noise}, {a.seeds} seeds per boundary, axis [0.2 s, 6 s]")
        print(
            f"{'boundary':>8} | {'--boundary runs max/mean':>24} {'error max':>9} | "
            f"{'found within':>12} {'search+shrink runs':>18} {'shrunk error max':>16} "
            "no bracket"
        )
        for r in rows:
            print(
                f"{r['boundary_s']:>7}s | {r['boundary_runs_max']:>14} / "
                f"{float(r['boundary_runs_mean']):>7.1f} {float(r['boundary_error_max']):>9.1%} | "  # type: ignore[arg-type]
                f"{r['found_within_max']:>12} {float(r['search_runs_mean']):>18.1f} "  # type: ignore[arg-type]
                f"{float(r['shrunk_error_max']):>16.1%} {r['no_bracket']:>10}"  # type: ignore[arg-type]
            )
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
