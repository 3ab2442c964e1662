"""A game day's record beyond result.json: report.html and the metrics (the run's own
reports), summary.md for the game-day write-up or a postmortem, and the runs index.

``summary_markdown(run_dir, result)`` is a pure function of the run directory: what was
broken and for how long, what was lost against the RPO, the RTO, why the run stopped, the
settings the servers reported, and the timeline from audit.jsonl.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rpochaos.gameday.audit import AUDIT, records
from rpochaos.report.html import write_html
from rpochaos.report.index import write_index
from rpochaos.report.metrics import write_run_metrics
from rpochaos.result import Result
from rpochaos.store import RESOLVED

SUMMARY = "summary.md"


def _s(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f} s"


def _wall(w: object) -> str:
    if not isinstance(w, int | float):
        return "?"
    return datetime.fromtimestamp(float(w), UTC).strftime("%H:%M:%S.%f")[:-3] + "Z"


def summary_markdown(run_dir: Path, result: Result) -> str:
    meta: dict[str, object] = {}
    with contextlib.suppress(OSError, json.JSONDecodeError):
        meta = json.loads((run_dir / RESOLVED).read_text())
    gd = meta.get("gameday") if isinstance(meta.get("gameday"), dict) else {}
    assert isinstance(gd, dict)
    w = result.writes
    out = [
        f"# Game day: {result.scenario} on {gd.get('inventory', '?')}",
        "",
        f"- run id: `{gd.get('run_id', '?')}`; run directory: `{run_dir}`",
        f"- verdict: **{result.verdict}**",
    ]
    out += [f"  - {r}" for r in result.reasons]
    out += [
        "",
        "## What was broken",
        "",
        "| step | target | from | to | lasted |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f in result.faults:
        end = f.end_s
        lasted = (
            "instant"
            if f.instant
            else ("never healed" if end is None else f"{end - f.start_s:.3f} s")
        )
        out.append(
            f"| {f.kind} | {f.target} | {f.start_s:.3f} s | "
            f"{'-' if end is None else f'{end:.3f} s'} | {lasted} |"
        )
    out += [
        "",
        "## What was lost",
        "",
        f"- acknowledged writes: {w.acknowledged} of {w.attempted} attempted",
        f"- lost acknowledged writes: **{w.lost}**",
        f"- data-loss window: {_s(result.data_loss_window_s)} against a declared RPO of "
        f"{_s(result.rpo_declared_s)}",
        f"- RTO (outage to the first acknowledged write on the new primary): {_s(result.rto_s)}",
        f"- final read on: {result.failover.final_read_node or 'n/a'}; promoted: "
        f"{result.failover.promoted or 'none'}",
        "",
        "## Settings in force (as the system reported them at the start)",
        "",
    ]
    dur = meta.get("durability")
    if isinstance(dur, dict):
        out += [f"- `{k}` = `{v}`" for k, v in dur.items()]
    out += ["", "## Timeline (audit journal, UTC)", ""]
    for rec in records(run_dir / AUDIT):
        kind = rec.get("kind")
        what = {k: v for k, v in rec.items() if k not in ("kind", "wall")}
        out.append(f"- {_wall(rec.get('wall'))} **{kind}** {json.dumps(what, default=str)}")
    return "\n".join(out) + "\n"


def write_reports(run_dir: Path, result: Result, index_root: Path | None) -> None:
    """summary.md, report.html, metrics and the runs index; a failed report never fails the
    run (the error is written into summary.md's place instead)."""
    (run_dir / SUMMARY).write_text(summary_markdown(run_dir, result))
    jobs: list[Callable[[], object]] = [
        lambda: write_run_metrics(run_dir, result.to_dict()),
        lambda: write_html(run_dir),
    ]
    for job in jobs:
        try:
            job()
        except Exception as e:  # a report is not worth losing the run over
            with (run_dir / SUMMARY).open("a") as f:
                f.write(f"\n(report not written: {type(e).__name__}: {e})\n")
    if index_root is not None:
        try:
            write_index(index_root)
        except Exception as e:
            with (run_dir / SUMMARY).open("a") as f:
                f.write(f"\n(runs index not written: {type(e).__name__}: {e})\n")
