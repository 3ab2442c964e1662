"""Across runs: an index page of run directories, and the summary of a ``--repeat N``.

``write_index(runs_root)`` finds every run directory under ``runs_root`` (a directory with a
result.json; the walk does not descend into one), writes a missing report.html for each (so
every row links somewhere), and writes ``runs_root/index.html``: one row per run (scenario,
start time, verdict, lost/acknowledged, window, RPO, RTO, a link to its report) and, per
scenario, the meets-RPO share and the spread of data-loss windows across its runs.

``repeat_summary(results)`` is the seed's SLI over repeated runs: meets-RPO % = share of runs
whose verdict is PASS (UNKNOWN counts as not meeting it: never PASS on missing data), and the
distribution of data-loss windows (min / median / p90 / max; quantiles by linear
interpolation between closest ranks, as numpy's default), over the runs that have one.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

from rpochaos.measure import Verdict
from rpochaos.report.html import REPORT, write_html
from rpochaos.report.html.svg import num
from rpochaos.result import RESULT, Result, as_result
from rpochaos.store import EVENTS, read_events

INDEX = "index.html"


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    xs = sorted(values)
    if not xs:
        return None
    pos = q * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


class Spread(TypedDict):
    n: int
    min: float | None
    median: float | None
    p90: float | None
    max: float | None


#: what ``repeat_summary`` returns ("pass" is a keyword, hence the functional form)
RepeatSummary = TypedDict(
    "RepeatSummary",
    {
        "runs": int,
        "pass": int,
        "fail": int,
        "unknown": int,
        "meets_rpo_pct": float | None,
        "windows_s": Spread,
        "lost": Spread,
        "rpo_declared_s": float | None,
        "scenarios": list[str],
    },
)


def _spread(values: Sequence[float]) -> Spread:
    return {
        "n": len(values),
        "min": min(values) if values else None,
        "median": quantile(values, 0.5),
        "p90": quantile(values, 0.9),
        "max": max(values) if values else None,
    }


def repeat_summary(results: Sequence[Result | Mapping[str, object]]) -> RepeatSummary:
    """Meets-RPO % and the spread of windows (and of lost writes) over repeated runs.

    ``meets_rpo_pct`` is None for no runs, ``rpo_declared_s`` None when the runs disagree.
    """
    rs = [as_result(r) for r in results]
    n = len(rs)
    passed = sum(1 for r in rs if r.verdict == Verdict.PASS)
    failed = sum(1 for r in rs if r.verdict == Verdict.FAIL)
    windows = [w for w in (num(r.data_loss_window_s) for r in rs) if w is not None]
    lost = [float(r.writes.lost) for r in rs]
    rpos = {num(r.rpo_declared_s) for r in rs}
    return {
        "runs": n,
        "pass": passed,
        "fail": failed,
        "unknown": n - passed - failed,
        "meets_rpo_pct": round(100.0 * passed / n, 1) if n else None,
        "windows_s": _spread(windows),
        "lost": _spread(lost),
        "rpo_declared_s": next(iter(rpos)) if len(rpos) == 1 else None,
        "scenarios": sorted({str(r.scenario) for r in rs}),
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _fmt(v: object, unit: str = " s", digits: int = 3) -> str:
    f = num(v)
    return "n/a" if f is None else f"{f:.{digits}f}{unit}"


def repeat_lines(summary: RepeatSummary) -> list[str]:
    """The summary as console lines, e.g. for ``rpochaos run --repeat N``."""
    w = summary["windows_s"]
    lost = summary["lost"]
    pct = summary["meets_rpo_pct"]
    return [
        f"meets RPO ({_fmt(summary['rpo_declared_s'], ' s', 3)}): "
        f"{'n/a' if pct is None else f'{pct:g} %'} of {summary['runs']} runs "
        f"(PASS {summary['pass']}, FAIL {summary['fail']}, UNKNOWN {summary['unknown']})",
        f"data-loss window over {w['n']} runs: min {_fmt(w['min'])}, median "
        f"{_fmt(w['median'])}, p90 {_fmt(w['p90'])}, max {_fmt(w['max'])}",
        f"lost writes: min {_fmt(lost['min'], '', 0)}, median {_fmt(lost['median'], '', 1)}, "
        f"max {_fmt(lost['max'], '', 0)}",
    ]


def find_runs(runs_root: Path) -> list[Path]:
    """Every directory under ``runs_root`` (itself included) holding a result.json."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(runs_root):
        if RESULT in filenames:
            found.append(Path(dirpath))
            dirnames[:] = []  # a run directory holds no other run
        else:
            dirnames[:] = sorted(d for d in dirnames if d not in ("data", "logs"))
    return sorted(found)


def _started(run_dir: Path) -> float:
    for e in read_events(run_dir / EVENTS):
        if e.get("name") == "workload_start":
            wall = num(e.get("wall"))
            if wall is not None:
                return wall
    return (run_dir / RESULT).stat().st_mtime


_CSS = """
body{font-family:"DejaVu Sans",Arial,Helvetica,sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:16px;margin-top:24px}
table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #e0e0e0;padding:3px 8px;text-align:left}
th{background:#f6f6f6}td.n{text-align:right}
.PASS{color:#2e7d32;font-weight:bold}.FAIL{color:#c62828;font-weight:bold}
.UNKNOWN{color:#b26a00;font-weight:bold}
"""


def write_index(runs_root: Path, *, render_missing: bool = True) -> Path:
    """Write ``runs_root/index.html`` (a row per run directory found) and return its path.
    With ``render_missing``, a run without report.html gets one first."""
    runs_root = Path(runs_root)
    rows: list[tuple[float, Path, Result, bool]] = []
    for d in find_runs(runs_root):
        try:
            result = Result.load(d)
        except (OSError, ValueError):  # unreadable, or not a result.json
            continue
        has_report = (d / REPORT).exists()
        if not has_report and render_missing:
            try:
                write_html(d)
                has_report = True
            except Exception:  # one broken run directory must not hide the others
                has_report = False
        rows.append((_started(d), d, result, has_report))
    rows.sort(key=lambda r: r[0], reverse=True)

    by_scenario: dict[str, list[Result]] = {}
    for _, _, res, _ in rows:
        by_scenario.setdefault(str(res.scenario), []).append(res)

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>rpochaos runs — {_e(runs_root)}</title><style>{_CSS}</style></head><body>",
        f"<h1>rpochaos runs in {_e(runs_root)}</h1>",
        f"<p>{_plural(len(rows), 'run')}, {_plural(len(by_scenario), 'scenario')}.</p>",
        "<h2>Per scenario</h2>",
        "<table><tr><th>scenario</th><th>runs</th><th>meets RPO</th><th>RPO</th>"
        "<th>window min</th><th>median</th><th>p90</th><th>max</th><th>lost median</th></tr>",
    ]
    for name in sorted(by_scenario):
        s = repeat_summary(by_scenario[name])
        w = s["windows_s"]
        pct = s["meets_rpo_pct"]
        parts.append(
            f'<tr class="scenario"><td>{_e(name)}</td><td class="n">{s["runs"]}</td>'
            f'<td class="n">{"n/a" if pct is None else f"{pct:g} %"}</td>'
            f'<td class="n">{_fmt(s["rpo_declared_s"])}</td>'
            + "".join(f'<td class="n">{_fmt(w[k])}</td>' for k in ("min", "median", "p90", "max"))
            + f'<td class="n">{_fmt(s["lost"]["median"], "", 1)}</td></tr>'
        )
    parts.append("</table>")
    parts.append(
        "<h2>Runs</h2><table><tr><th>started (UTC)</th><th>scenario</th><th>verdict</th>"
        "<th>lost / acknowledged</th><th>window</th><th>RPO</th><th>RTO</th><th>report</th>"
        "</tr>"
    )
    for started, d, res, has_report in rows:
        writes = res.writes
        verdict = res.verdict.value
        when = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M:%S")
        rel = (d / REPORT).relative_to(runs_root).as_posix()
        link = f'<a href="{_e(rel)}">report</a>' if has_report else "—"
        parts.append(
            f'<tr class="run"><td>{_e(when)}</td><td>{_e(res.scenario)}</td>'
            f'<td class="{_e(verdict)}">{_e(verdict)}</td>'
            f'<td class="n">{writes.lost} / {writes.acknowledged}</td>'
            f'<td class="n">{_fmt(res.data_loss_window_s)}</td>'
            f'<td class="n">{_fmt(res.rpo_declared_s)}</td>'
            f'<td class="n">{_fmt(res.rto_s)}</td><td>{link}</td></tr>'
        )
    parts.append("</table></body></html>")
    out = runs_root / INDEX
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text("\n".join(parts) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out
