"""Scenarios side by side: the pytest face with and without pytest-xdist, in one run.

    .venv/bin/python bench/parallel.py [--workers N] [--scenarios NAME ...]

Runs the shipped PostgreSQL scenarios (``scenarios/pg-*.yaml``, or the names given) through
``pytest --rpo-scenario`` twice on this machine: once serially and once with ``-n N``
(default 2), each in a fresh runs directory. Prints the wall time of each and their ratio,
and per scenario the verdict and the data-loss window of both runs side by side: how far a
window moves when another scenario shares the machine. Every run brings its own servers on
free ports, so nothing is shared between workers but the CPUs. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


def run_suite(paths: list[Path], runs: Path, workers: int) -> float:
    """Wall seconds of one ``pytest --rpo-scenario`` over ``paths`` (``-n workers`` if > 1)."""
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if workers > 1:
        argv += ["-n", str(workers)]
    for p in paths:
        argv += ["--rpo-scenario", str(p)]
    argv += ["--rpo-runs-dir", str(runs)]
    t0 = time.monotonic()
    proc = subprocess.run(
        argv, cwd=runs.parent, capture_output=True, text=True, timeout=1800, check=False
    )
    took = time.monotonic() - t0
    if proc.returncode not in (0, 1):  # 1: some scenario FAILs, as several are built to
        sys.exit(f"pytest exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return took


def results(runs: Path) -> dict[str, tuple[str, float | None]]:
    """Scenario name -> (verdict, data-loss window) of each run under ``runs``."""
    out: dict[str, tuple[str, float | None]] = {}
    for f in sorted(runs.glob("*/*/result.json")):
        r = json.loads(f.read_text())
        out[str(r["scenario"])] = (str(r["verdict"]), r.get("data_loss_window_s"))
    return out


def _window(w: float | None) -> str:
    return "-" if w is None else f"{w:.3f}s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (default 2)")
    ap.add_argument("--scenarios", nargs="+", help="scenario names (default: scenarios/pg-*)")
    a = ap.parse_args()
    if a.scenarios:
        paths = [SCENARIOS / f"{n}.yaml" for n in a.scenarios]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            sys.exit(f"no such scenario: {', '.join(missing)}")
    else:
        paths = sorted(SCENARIOS.glob("pg-*.yaml"))
    with tempfile.TemporaryDirectory(prefix="rpochaos-bench-parallel-") as d:
        serial_runs, parallel_runs = Path(d) / "serial", Path(d) / "parallel"
        print(f"[bench] {len(paths)} scenarios serially", file=sys.stderr)
        serial = run_suite(paths, serial_runs, 1)
        print(f"[bench] the same with -n {a.workers}", file=sys.stderr)
        parallel = run_suite(paths, parallel_runs, a.workers)
        s, p = results(serial_runs), results(parallel_runs)
    load = os.getloadavg()
    print(
        f"rpochaos bench parallel: {os.cpu_count()} CPUs; load average after "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        f"wall: serial {serial:.1f} s, -n {a.workers} {parallel:.1f} s, "
        f"ratio {parallel / serial:.2f}"
    )
    print(f"{'scenario':34} {'serial':>14} {'-n ' + str(a.workers):>14} {'window moved':>13}")
    for name in sorted(s.keys() | p.keys()):
        sv, sw = s.get(name, ("missing", None))
        pv, pw = p.get(name, ("missing", None))
        moved = "-" if sw is None or pw is None else f"{(pw - sw) * 1000:+.1f} ms"
        print(f"{name:34} {sv:>5} {_window(sw):>8} {pv:>5} {_window(pw):>8} {moved:>13}")
    same = all(s.get(n, ("", None))[0] == p.get(n, ("", None))[0] for n in s.keys() | p.keys())
    print(f"verdicts {'the same' if same else 'DIFFER'} in both runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
