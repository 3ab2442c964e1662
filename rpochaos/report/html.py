"""report.html: one self-contained page per run, built from the run directory alone.

``write_html(run_dir)`` reads result.json (recomputed in memory by ``analyze``'s code when it
is missing), history.jsonl, events.jsonl, resolved.json and, when present,
observations.jsonl, and writes ``run_dir/report.html``: the summary (verdict, counts, window
against the RPO, RTO, durability settings, versions, the reproduce command) and a timeline
drawn as inline SVG, generated here. No script, no font, no stylesheet, no image is fetched:
the file opens offline and can be attached to a ticket as it is.

The timeline shares one time axis (harness seconds since the workload started) between:

- acknowledged writes per second, by completion time; the part of each bar that was later lost
  is red; writes that failed or whose outcome is unknown are a grey line;
- a rug of red ticks, one per lost acknowledged write, at its completion time;
- replication lag in bytes per replica (``pg_wal_lsn_diff``, clock-free), when observed;
- replication lag in seconds per replica: PostgreSQL's ``flush_lag`` (solid) and ``stalled``,
  how long the replica's flush LSN has not moved while behind (dashed, harness clock), which is
  what shows a blackhole: the server's lag columns are NULL then;
- over all of them: each fault as a shaded, labelled interval (instant actions — crash,
  promote, restart — as labelled lines), the outage, the recovery point, the RPO line (the
  outage minus the declared RPO: a recovery point left of it means FAIL) and, on top, the
  data-loss window (recovery point .. outage) drawn against the RPO.

Hover any element for its exact value (SVG ``<title>``).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rpochaos.history import Op, Outcome, read_history
from rpochaos.observe.postgres import OBSERVATIONS, read_observations
from rpochaos.store import EVENTS, HISTORY, RESOLVED, RESULT, read_events

REPORT = "report.html"

# -- colours ---------------------------------------------------------------------------------
KEPT = "#4c78a8"  # acknowledged and present after recovery
LOST = "#d62728"  # acknowledged and lost
OTHER = "#8c8c8c"  # failed or unknown outcome
OUTAGE = "#7b0a0a"
RECOVERY = "#2e7d32"
RPO_LINE = "#e68a00"
REPLICA_COLOURS = ("#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#e6ab02")
FAULT_FILL = {
    "partition": "#f4a261",
    "latency": "#e9c46a",
    "bandwidth": "#c9ada7",
    "crash": "#6d6875",
}
INSTANT_STROKE = {"crash": "#222222", "promote": "#2a9d8f", "restart": "#264653"}
VERDICT_COLOURS = {"PASS": "#2e7d32", "FAIL": "#c62828", "UNKNOWN": "#b26a00"}

# -- geometry (SVG user units) ---------------------------------------------------------------
WIDTH = 1200
LEFT = 84
RIGHT = 24
PLOT_W = WIDTH - LEFT - RIGHT
LANE_H = 17


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None


def _secs(v: Any, digits: int = 3) -> str:
    f = _num(v)
    return "n/a" if f is None else f"{f:.{digits}f} s"


def human_bytes(v: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(v) >= size:
            return f"{v / size:.3g} {unit}"
    return f"{v:.0f} B"


def nice_ticks(lo: float, hi: float, want: int = 6) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 x 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, want)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    out: list[float] = []
    k = 0
    while first + k * step <= hi + 1e-9 * step and k < 1000:
        out.append(round(first + k * step, 10))
        k += 1
    return out


def _nice_max(v: float) -> float:
    """The smallest 'round' value >= v (for a y axis)."""
    if v <= 0 or not math.isfinite(v):
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    return float(next(m * mag for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * mag >= v))


def _byte_ticks(vmax: float) -> tuple[float, list[float]]:
    """A y-axis top and ticks in binary units (multiples of 1, 2, 5 x 1024^k)."""
    if vmax <= 0:
        return 1024.0, [0.0, 512.0, 1024.0]
    base = 1.0
    for size in (1 << 30, 1 << 20, 1 << 10):
        if vmax >= size:
            base = float(size)
            break
    top = _nice_max(vmax / base) * base
    return top, [t * base for t in nice_ticks(0.0, top / base, 4)]


# -- the data --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunData:
    """Everything the report shows, loaded from one run directory."""

    result: dict[str, Any]
    meta: dict[str, Any]  # resolved.json
    ops: list[Op]
    events: list[dict[str, Any]]
    observations: list[dict[str, Any]]
    notes: tuple[str, ...] = ()  # problems met while loading, shown on the page


def load_run_data(run_dir: Path) -> RunData:
    run_dir = Path(run_dir)
    notes: list[str] = []
    meta: dict[str, Any] = {}
    if (run_dir / RESOLVED).exists():
        meta = json.loads((run_dir / RESOLVED).read_text())
    if (run_dir / RESULT).exists():
        result: dict[str, Any] = json.loads((run_dir / RESULT).read_text())
    else:
        from rpochaos.result import build_result
        from rpochaos.store import load_run

        result = build_result(load_run(run_dir))
        notes.append("result.json was missing: recomputed from the run directory")
    ops: list[Op] = []
    if (run_dir / HISTORY).exists():
        try:
            ops = read_history(run_dir / HISTORY)
        except ValueError as e:
            notes.append(f"history.jsonl could not be read: {e}")
    else:
        notes.append("no history.jsonl: no write was recorded")
    return RunData(
        result=result,
        meta=meta,
        ops=ops,
        events=read_events(run_dir / EVENTS),
        observations=read_observations(run_dir / OBSERVATIONS),
        notes=tuple(notes),
    )


def write_html(run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` from the run directory alone and return its path."""
    run_dir = Path(run_dir)
    out = run_dir / REPORT
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(render_html(load_run_data(run_dir)), encoding="utf-8")
    tmp.replace(out)
    return out


# -- the chart -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _XScale:
    t0: float
    t1: float

    def __call__(self, t: float) -> float:
        t = min(max(t, self.t0), self.t1)
        return LEFT + (t - self.t0) / (self.t1 - self.t0) * PLOT_W


def _time_extent(d: RunData) -> tuple[float, float]:
    r = d.result
    ts: list[float] = [0.0]
    dur = _num((r.get("workload") or {}).get("duration_s"))
    if dur is not None:
        ts.append(dur)
    for op in d.ops:
        ts.append(op.invoke_s)
        if op.complete_s is not None:
            ts.append(op.complete_s)
    for e in d.events:
        t = _num(e.get("t"))
        if t is not None:
            ts.append(t)
    if d.observations:
        t = _num(d.observations[-1].get("t"))
        if t is not None:
            ts.append(t)
    for k in ("outage_at_s", "recovery_point_s"):
        t = _num(r.get(k))
        if t is not None:
            ts.append(t)
    hi = max(ts)
    return 0.0, hi + max(0.2, 0.02 * hi)


def _bin_width(span: float) -> float:
    for w in (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0):
        if span / w <= 200:
            return w
    return span / 200


def _polyline_segments(
    points: Iterable[tuple[float, float | None]],
) -> list[list[tuple[float, float]]]:
    """Split a series at its gaps (None values) into drawable runs."""
    runs: list[list[tuple[float, float]]] = []
    cur: list[tuple[float, float]] = []
    for x, y in points:
        if y is None:
            if cur:
                runs.append(cur)
            cur = []
        else:
            cur.append((x, y))
    if cur:
        runs.append(cur)
    return runs


def _path(pts: Sequence[tuple[float, float]]) -> str:
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts)


class _Svg:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, s: str) -> None:
        self.parts.append(s)

    def text(
        self,
        x: float,
        y: float,
        s: str,
        *,
        anchor: str = "start",
        size: int = 11,
        fill: str = "#333",
        weight: str = "normal",
        cls: str = "",
    ) -> None:
        c = f' class="{cls}"' if cls else ""
        self.add(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{fill}" font-weight="{weight}"{c}>{_e(s)}</text>'
        )


@dataclass
class _Panel:
    title: str
    top: float
    height: float

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def y(self, v: float, vmax: float) -> float:
        v = min(max(v, 0.0), vmax)
        return self.bottom - v / vmax * self.height


def _faults(d: RunData, t_end: float) -> list[dict[str, Any]]:
    out = []
    for f in d.result.get("faults") or []:
        start = _num(f.get("start_s"))
        if start is None:
            continue
        end = _num(f.get("end_s"))
        instant = end is not None and end == start
        out.append(
            {
                "kind": str(f.get("kind", "?")),
                "target": str(f.get("target", "?")),
                "start": start,
                "end": t_end if end is None else end,
                "open": end is None,
                "instant": instant,
                "outage": bool(f.get("outage")),
                "params": f.get("params") or {},
            }
        )
    return out


def _fault_label(f: dict[str, Any]) -> str:
    params = " ".join(f"{k}={v}" for k, v in (f["params"] or {}).items())
    s = f"{f['kind']} {f['target']}"
    if params:
        s += f" ({params})"
    return s


def _assign_lanes(items: list[tuple[float, float]]) -> list[int]:
    """Greedy lanes so that labels [x, x_end] on one lane never overlap."""
    ends: list[float] = []
    lanes: list[int] = []
    for x, x_end in items:
        for i, e in enumerate(ends):
            if x >= e + 6:
                ends[i] = x_end
                lanes.append(i)
                break
        else:
            ends.append(x_end)
            lanes.append(len(ends) - 1)
    return lanes


def _text_w(s: str, size: int = 11) -> float:
    return len(s) * size * 0.56


def timeline_svg(d: RunData) -> str:
    """The timeline as one inline ``<svg>`` element."""
    r = d.result
    t0, t1 = _time_extent(d)
    X = _XScale(t0, t1)
    svg = _Svg()
    faults = _faults(d, t1)
    outage = _num(r.get("outage_at_s"))
    recovery = _num(r.get("recovery_point_s"))
    rpo = _num(r.get("rpo_declared_s"))
    window = _num(r.get("data_loss_window_s"))
    rto = _num(r.get("rto_s"))

    # header: fault labels on lanes, then the window-vs-RPO brackets
    label_items: list[tuple[float, float, str, dict[str, Any]]] = []
    for f in faults:
        lab = _fault_label(f) + (f" @{f['start']:.2f}s" if f["instant"] else "")
        x = X(f["start"])
        x = min(x, LEFT + PLOT_W - _text_w(lab))
        label_items.append((x, x + _text_w(lab), lab, f))
    label_items.sort(key=lambda it: it[0])
    lanes = _assign_lanes([(a, b) for a, b, _, _ in label_items])
    n_lanes = max(lanes) + 1 if lanes else 0
    y = 8.0
    lanes_top = y
    y += n_lanes * LANE_H
    bracket_top = y + 4
    has_brackets = outage is not None and (recovery is not None or rpo is not None)
    if has_brackets:
        y = bracket_top + 2 * 20 + 4
    panels: list[tuple[str, _Panel]] = []
    y += 8
    w_bin = _bin_width(t1 - t0)
    panels.append(("acks", _Panel(f"acknowledged writes / s ({w_bin:g} s bins)", y, 170)))
    y += 170 + 6
    rug = _Panel("lost writes", y, 22)
    y += 22 + 14
    replicas = sorted({str(x["name"]) for s in d.observations for x in s.get("replicas") or ()})
    if replicas:
        panels.append(("lag_bytes", _Panel("replication lag (bytes, clock-free)", y, 140)))
        y += 140 + 24
        panels.append(("lag_s", _Panel("replication lag (seconds)", y, 140)))
        y += 140 + 14
    else:
        y += 16  # room for the 'no samples' note
    axis_y = y
    height = axis_y + 38
    first_top = panels[0][1].top

    svg.add(
        f'<svg id="timeline" viewBox="0 0 {WIDTH} {height:.0f}" width="100%" role="img" '
        f'aria-label="run timeline" font-family="DejaVu Sans, Arial, Helvetica, sans-serif">'
    )
    svg.add(f'<rect x="0" y="0" width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>')

    # fault shading (under everything), instant actions as lines
    colour_of = {}
    for f in faults:
        if f["instant"]:
            continue
        x_a, x_b = X(f["start"]), X(f["end"])
        fill = FAULT_FILL.get(f["kind"], "#bbbbbb")
        colour_of[id(f)] = fill
        title = f"{_fault_label(f)}: {f['start']:.3f} s .. " + (
            "end of run (never healed)" if f["open"] else f"{f['end']:.3f} s"
        )
        svg.add(
            f'<rect class="fault" data-kind="{_e(f["kind"])}" x="{x_a:.1f}" y="{lanes_top:.1f}" '
            f'width="{max(1.0, x_b - x_a):.1f}" height="{axis_y - lanes_top:.1f}" fill="{fill}" '
            f'fill-opacity="0.22"><title>{_e(title)}</title></rect>'
        )
    for (x_lab, _xe, lab, f), lane in zip(label_items, lanes, strict=True):
        ly = lanes_top + lane * LANE_H + 12
        if f["instant"]:
            stroke = OUTAGE if f["outage"] else INSTANT_STROKE.get(f["kind"], "#444")
            xi = X(f["start"])
            svg.add(
                f'<line class="instant" data-kind="{_e(f["kind"])}" x1="{xi:.1f}" '
                f'y1="{lanes_top + lane * LANE_H + 14:.1f}" x2="{xi:.1f}" y2="{axis_y:.1f}" '
                f'stroke="{stroke}" stroke-width="1.2" stroke-dasharray="2,3">'
                f"<title>{_e(lab)}</title></line>"
            )
            svg.text(x_lab + 3, ly, lab, fill=stroke, cls="fault-label")
        else:
            svg.text(x_lab + 3, ly, lab, fill="#8a4b0f", weight="bold", cls="fault-label")

    # window vs RPO brackets
    if has_brackets and outage is not None:
        xo = X(outage)
        by = bracket_top
        if recovery is not None:
            over = rpo is not None and window is not None and window > rpo
            col = LOST if over else RECOVERY
            xr = X(recovery)
            lab = f"data-loss window {_secs(window)}"
            svg.add(
                f'<g class="window"><path d="M{xr:.1f},{by + 12:.1f} V{by + 4:.1f} H{xo:.1f} '
                f'V{by + 12:.1f}" fill="none" stroke="{col}" stroke-width="2"/>'
                f"<title>recovery point {recovery:.3f} s .. outage {outage:.3f} s</title></g>"
            )
            svg.text((xr + xo) / 2, by + 1, lab, anchor="middle", fill=col, weight="bold")
        if rpo is not None:
            xp = X(outage - rpo)
            lab = f"RPO {rpo:g} s"
            y2 = by + 20
            svg.add(
                f'<g class="rpo"><path d="M{xp:.1f},{y2 + 12:.1f} V{y2 + 4:.1f} H{xo:.1f} '
                f'V{y2 + 12:.1f}" fill="none" stroke="{RPO_LINE}" stroke-width="2"/>'
                f"<title>declared RPO {rpo:g} s, ending at the outage</title></g>"
            )
            svg.text((xp + xo) / 2, y2 + 1, lab, anchor="middle", fill=RPO_LINE, weight="bold")

    # panels
    for key, p in panels:
        svg.add(
            f'<rect x="{LEFT}" y="{p.top:.1f}" width="{PLOT_W}" height="{p.height:.1f}" '
            f'fill="none" stroke="#d0d0d0"/>'
        )
        svg.text(LEFT + 6, p.top + 13, p.title, weight="bold", fill="#222")
        if key == "acks":
            _acks_panel(svg, d, X, p, t0, t1)
        elif key == "lag_bytes":
            _lag_bytes_panel(svg, d, X, p, replicas)
        elif key == "lag_s":
            _lag_s_panel(svg, d, X, p, replicas)
    _rug(svg, d, X, rug)
    if not replicas:
        svg.text(
            LEFT + 6,
            rug.bottom + 12,
            "no replication lag samples in this run (observations.jsonl absent or empty)",
            fill="#777",
            cls="no-observations",
        )

    # error intervals of the observer (primary unreachable), over the lag panels
    if replicas:
        lag_top = next(p.top for k, p in panels if k == "lag_bytes")
        for a, b, why in _error_intervals(d.observations):
            xa, xb = X(a), X(b)
            svg.add(
                f'<rect class="observer-error" x="{xa:.1f}" y="{lag_top:.1f}" '
                f'width="{max(1.0, xb - xa):.1f}" height="{axis_y - 14 - lag_top:.1f}" '
                f'fill="#9e9e9e" fill-opacity="0.18"><title>{_e(why)} '
                f"({a:.2f} .. {b:.2f} s)</title></rect>"
            )

    # vertical markers across all panels
    def vline(t: float, colour: str, label: str, cls: str, dash: str, width: float) -> None:
        x = X(t)
        svg.add(
            f'<line class="{cls}" x1="{x:.1f}" y1="{first_top:.1f}" x2="{x:.1f}" '
            f'y2="{axis_y:.1f}" stroke="{colour}" stroke-width="{width}" '
            f'stroke-dasharray="{dash}"><title>{_e(label)}</title></line>'
        )

    marker_labels: list[tuple[float, str, str]] = []
    if rpo is not None and outage is not None:
        vline(outage - rpo, RPO_LINE, f"RPO line: outage - {rpo:g} s", "rpo-line", "6,4", 1.6)
        marker_labels.append((outage - rpo, "RPO line", RPO_LINE))
    if recovery is not None:
        vline(recovery, RECOVERY, f"recovery point {recovery:.3f} s", "recovery-point", "", 2)
        marker_labels.append((recovery, "recovery point", RECOVERY))
    if outage is not None:
        vline(outage, OUTAGE, f"outage {outage:.3f} s", "outage", "", 2.4)
        marker_labels.append((outage, "outage", OUTAGE))
        if rto is not None:
            vline(
                outage + rto,
                "#1565c0",
                f"first acknowledged write after the outage (RTO {rto:.3f} s)",
                "rto",
                "1,3",
                1.6,
            )
            marker_labels.append((outage + rto, f"RTO {rto:.2f} s", "#1565c0"))
    # labels under the acks panel title row, staggered so they do not collide
    acks = panels[0][1]
    marker_labels.sort()
    lab_items = []
    for t, lab, col in marker_labels:
        x = X(t)
        w = _text_w(lab, 10)
        lab_items.append((x - w / 2, x + w / 2, lab, col, x))
    mlanes = _assign_lanes([(a, b) for a, b, *_ in lab_items])
    for (a, _b, lab, col, _x), lane in zip(lab_items, mlanes, strict=True):
        a = min(max(a, LEFT + 2), LEFT + PLOT_W - _text_w(lab, 10))
        ty = acks.top + 28 + lane * 12
        svg.add(
            f'<rect x="{a - 2:.1f}" y="{ty - 9:.1f}" width="{_text_w(lab, 10) + 4:.1f}" '
            f'height="12" fill="#ffffff" fill-opacity="0.85"/>'
        )
        svg.text(a, ty, lab, size=10, fill=col, weight="bold", cls="marker-label")

    # the time axis
    svg.add(
        f'<line x1="{LEFT}" y1="{axis_y:.1f}" x2="{LEFT + PLOT_W}" y2="{axis_y:.1f}" '
        f'stroke="#333"/>'
    )
    for t in nice_ticks(t0, t1, 12):
        x = X(t)
        svg.add(
            f'<line x1="{x:.1f}" y1="{axis_y:.1f}" x2="{x:.1f}" y2="{axis_y + 5:.1f}" '
            f'stroke="#333"/>'
        )
        svg.text(x, axis_y + 17, f"{t:g}", anchor="middle", size=10)
    svg.text(
        LEFT + PLOT_W / 2,
        axis_y + 32,
        "harness time (s since the workload started)",
        anchor="middle",
        size=11,
        fill="#555",
    )
    svg.add("</svg>")
    return "\n".join(svg.parts)


def _y_axis(svg: _Svg, p: _Panel, ticks: list[float], vmax: float, fmt: Any) -> None:
    for v in ticks:
        if v > vmax + 1e-9:
            continue
        yy = p.y(v, vmax)
        svg.add(
            f'<line x1="{LEFT - 4}" y1="{yy:.1f}" x2="{LEFT + PLOT_W}" y2="{yy:.1f}" '
            f'stroke="#eeeeee"/>'
        )
        svg.text(LEFT - 7, yy + 4, fmt(v), anchor="end", size=10, fill="#555")


def _legend(svg: _Svg, p: _Panel, items: list[tuple[str, str, str]]) -> None:
    """items: (colour, label, dash) drawn right-aligned on the panel's title row."""
    x = float(LEFT + PLOT_W - 8)
    for colour, label, dash in reversed(items):
        w = _text_w(label, 10)
        x -= w
        svg.text(x, p.top + 13, label, size=10, fill="#333")
        x -= 22
        d = f' stroke-dasharray="{dash}"' if dash else ""
        svg.add(
            f'<line x1="{x:.1f}" y1="{p.top + 9:.1f}" x2="{x + 16:.1f}" y2="{p.top + 9:.1f}" '
            f'stroke="{colour}" stroke-width="3"{d}/>'
        )
        x -= 14


def _acks_panel(svg: _Svg, d: RunData, X: _XScale, p: _Panel, t0: float, t1: float) -> None:
    lost = set((d.result.get("writes") or {}).get("lost_seqs") or ())
    w = _bin_width(t1 - t0)
    n = max(1, math.ceil((t1 - t0) / w))
    kept = [0] * n
    lostc = [0] * n
    other = [0] * n
    for op in d.ops:
        if op.complete_s is None:
            continue
        i = min(n - 1, max(0, int((op.complete_s - t0) / w)))
        if op.outcome == Outcome.OK:
            if op.seq in lost:
                lostc[i] += 1
            else:
                kept[i] += 1
        else:
            other[i] += 1
    peak = max([(k + lo) / w for k, lo in zip(kept, lostc, strict=True)] + [o / w for o in other])
    vmax = _nice_max(peak * 1.25) if peak > 0 else 1.0
    _y_axis(svg, p, nice_ticks(0, vmax, 4), vmax, lambda v: f"{v:g}")
    svg.add('<g class="series" data-series="acks">')
    for i in range(n):
        if kept[i] == 0 and lostc[i] == 0:
            continue
        a = t0 + i * w
        xa, xb = X(a), X(a + w)
        bw = max(0.6, xb - xa - 0.6)
        y_k = p.y(kept[i] / w, vmax)
        y_l = p.y((kept[i] + lostc[i]) / w, vmax)
        tip = f"{a:.2f}-{a + w:.2f} s: {kept[i] + lostc[i]} acknowledged ({lostc[i]} lost)"
        if kept[i]:
            svg.add(
                f'<rect x="{xa:.1f}" y="{y_k:.1f}" width="{bw:.1f}" '
                f'height="{p.bottom - y_k:.1f}" fill="{KEPT}"><title>{tip}</title></rect>'
            )
        if lostc[i]:
            svg.add(
                f'<rect class="lost-bar" x="{xa:.1f}" y="{y_l:.1f}" width="{bw:.1f}" '
                f'height="{y_k - y_l:.1f}" fill="{LOST}"><title>{tip}</title></rect>'
            )
    svg.add("</g>")
    if any(other):
        pts = [(X(t0 + (i + 0.5) * w), p.y(other[i] / w, vmax)) for i in range(n)]
        svg.add(
            f'<path class="series" data-series="failed" d="{_path(pts)}" fill="none" '
            f'stroke="{OTHER}" stroke-width="1.5"><title>failed or unknown outcome / s'
            f"</title></path>"
        )
    _legend(
        svg,
        p,
        [
            (KEPT, "acknowledged, kept", ""),
            (LOST, "acknowledged, lost", ""),
            (OTHER, "failed / unknown", ""),
        ],
    )


def _rug(svg: _Svg, d: RunData, X: _XScale, p: _Panel) -> None:
    lost = set((d.result.get("writes") or {}).get("lost_seqs") or ())
    svg.text(LEFT - 7, p.top + 15, "lost", anchor="end", size=10, fill=LOST, weight="bold")
    svg.add(
        f'<rect x="{LEFT}" y="{p.top:.1f}" width="{PLOT_W}" height="{p.height:.1f}" '
        f'fill="#fafafa" stroke="#e0e0e0"/>'
    )
    xs: dict[int, int] = {}
    first = last = None
    for op in d.ops:
        if op.seq in lost and op.complete_s is not None:
            px = round(X(op.complete_s) * 2)  # half-pixel buckets
            xs[px] = xs.get(px, 0) + 1
            first = op.complete_s if first is None else min(first, op.complete_s)
            last = op.complete_s if last is None else max(last, op.complete_s)
    parts = [f"M{px / 2:.1f},{p.top + 2:.1f} V{p.bottom - 2:.1f}" for px in sorted(xs)]
    title = (
        f"{len(lost)} lost acknowledged writes, completed {first:.3f} .. {last:.3f} s"
        if first is not None and last is not None
        else "no lost acknowledged write"
    )
    svg.add(
        f'<path class="series" data-series="lost" d="{" ".join(parts) or "M0,0"}" '
        f'stroke="{LOST}" stroke-width="1" fill="none"><title>{_e(title)}</title></path>'
    )
    if not lost:
        svg.text(LEFT + 6, p.top + 15, "no acknowledged write was lost", size=10, fill="#555")


def _series(samples: list[dict[str, Any]], name: str, key: str) -> list[tuple[float, float | None]]:
    out: list[tuple[float, float | None]] = []
    for s in samples:
        t = _num(s.get("t"))
        if t is None:
            continue
        rep = next((r for r in s.get("replicas") or () if r.get("name") == name), None)
        out.append((t, _num(rep.get(key)) if rep else None))
    return out


def _lag_bytes_panel(svg: _Svg, d: RunData, X: _XScale, p: _Panel, replicas: list[str]) -> None:
    series = {n: _series(d.observations, n, "lag_bytes") for n in replicas}
    peak = max((v for s in series.values() for _, v in s if v is not None), default=0.0)
    vmax, ticks = _byte_ticks(peak * 1.1)
    _y_axis(svg, p, ticks, vmax, human_bytes)
    for i, n in enumerate(replicas):
        col = REPLICA_COLOURS[i % len(REPLICA_COLOURS)]
        for run in _polyline_segments(
            (X(t), None if v is None else p.y(v, vmax)) for t, v in series[n]
        ):
            svg.add(
                f'<path class="series" data-series="lag-bytes-{_e(n)}" d="{_path(run)}" '
                f'fill="none" stroke="{col}" stroke-width="2"><title>{_e(n)}: '
                f"pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn), peak "
                f"{human_bytes(peak)}</title></path>"
            )
        # what the replica lacked when the outage struck: the bytes a failover to it loses
        outage = _num(d.result.get("outage_at_s"))
        before = [
            (t, v) for t, v in series[n] if v is not None and outage is not None and t <= outage
        ]
        if before:
            t, v = before[-1]
            x, yv = X(t), p.y(v, vmax)
            lab = f"{n}: {human_bytes(v)} behind at the outage"
            svg.add(
                f'<circle class="lag-at-outage" cx="{x:.1f}" cy="{yv:.1f}" r="3.5" '
                f'fill="{col}"><title>{_e(lab)} (sample at {t:.2f} s)</title></circle>'
            )
            lx = x + 6 if x + 6 + _text_w(lab, 10) < LEFT + PLOT_W else x - 6
            svg.text(
                lx,
                max(p.top + 26, yv - 6 + 14 * i),
                lab,
                anchor="start" if lx > x else "end",
                size=10,
                fill=col,
                weight="bold",
            )
    _legend(svg, p, [(REPLICA_COLOURS[i % 6], n, "") for i, n in enumerate(replicas)])


def _lag_s_panel(svg: _Svg, d: RunData, X: _XScale, p: _Panel, replicas: list[str]) -> None:
    flush = {n: _series(d.observations, n, "flush_lag_s") for n in replicas}
    stalled = {n: _series(d.observations, n, "stalled_s") for n in replicas}
    peak = max(
        (v for s in [*flush.values(), *stalled.values()] for _, v in s if v is not None),
        default=0.0,
    )
    vmax = _nice_max(peak * 1.1) if peak > 0 else 1.0
    _y_axis(svg, p, nice_ticks(0, vmax, 4), vmax, lambda v: f"{v:g} s")
    items: list[tuple[str, str, str]] = []
    for i, n in enumerate(replicas):
        col = REPLICA_COLOURS[i % len(REPLICA_COLOURS)]
        for key, data, dash, what in (
            ("flush-lag", flush[n], "", "flush_lag (server clock; NULL during a blackhole)"),
            ("stalled", stalled[n], "5,3", "flush LSN not advancing (harness clock)"),
        ):
            for run in _polyline_segments(
                (X(t), None if v is None else p.y(v, vmax)) for t, v in data
            ):
                if len(run) == 1:  # a lone point: draw a dot-sized segment
                    run = [run[0], (run[0][0] + 1.0, run[0][1])]
                dd = f' stroke-dasharray="{dash}"' if dash else ""
                svg.add(
                    f'<path class="series" data-series="{key}-{_e(n)}" d="{_path(run)}" '
                    f'fill="none" stroke="{col}" stroke-width="2"{dd}>'
                    f"<title>{_e(n)}: {_e(what)}</title></path>"
                )
        items += [(col, f"{n} flush_lag", ""), (col, f"{n} stalled", "5,3")]
    _legend(svg, p, items)


def _error_intervals(samples: list[dict[str, Any]]) -> list[tuple[float, float, str]]:
    out: list[tuple[float, float, str]] = []
    start: float | None = None
    why = ""
    prev_t: float | None = None
    for s in samples:
        t = _num(s.get("t"))
        if t is None:
            continue
        err = s.get("error")
        if err and start is None:
            start, why = t, str(err)
        elif not err and start is not None:
            out.append((start, t, why))
            start = None
        prev_t = t
    if start is not None and prev_t is not None:
        out.append((start, prev_t, why))
    return out


# -- the page --------------------------------------------------------------------------------
_CSS = """
body{font-family:"DejaVu Sans",Arial,Helvetica,sans-serif;margin:24px;color:#222;
     background:#fff;max-width:1260px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:16px;margin:26px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
.verdict{display:inline-block;color:#fff;font-weight:bold;padding:4px 12px;border-radius:4px;
         font-size:20px;margin-right:10px;vertical-align:middle}
.sub{color:#555;margin:4px 0 14px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:150px}
.card .k{font-size:12px;color:#666}.card .v{font-size:20px;font-weight:bold}
table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #e0e0e0;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6}
pre{background:#f6f6f6;padding:8px 10px;border-radius:4px;overflow-x:auto;font-size:13px}
.reasons li{margin:2px 0}
.note{color:#8a4b0f}
.muted{color:#777;font-size:12px}
.chart{border:1px solid #e5e5e5;border-radius:6px;padding:6px;margin:8px 0}
"""


def _kv_table(rows: Iterable[tuple[str, Any]]) -> str:
    body = "".join(
        f"<tr><th>{_e(k)}</th><td>{_e('—' if v is None else v)}</td></tr>" for k, v in rows
    )
    return f"<table>{body}</table>"


def _card(k: str, v: str, colour: str | None = None) -> str:
    style = f' style="color:{colour}"' if colour else ""
    return (
        f'<div class="card"><div class="k">{_e(k)}</div><div class="v"{style}>{_e(v)}</div></div>'
    )


def _observer_stats(d: RunData) -> list[tuple[str, Any]]:
    if not d.observations:
        return []
    peak_b: float | None = None
    peak_stall: float | None = None
    errors = 0
    for s in d.observations:
        if s.get("error"):
            errors += 1
        for rep in s.get("replicas") or ():
            b = _num(rep.get("lag_bytes"))
            st = _num(rep.get("stalled_s"))
            if b is not None and (peak_b is None or b > peak_b):
                peak_b = b
            if st is not None and (peak_stall is None or st > peak_stall):
                peak_stall = st
    ts = [t for t in (_num(s.get("t")) for s in d.observations) if t is not None]
    span = (max(ts) - min(ts)) if len(ts) > 1 else 0.0
    rows: list[tuple[str, Any]] = [
        (
            "samples",
            f"{len(d.observations)} over {span:.1f} s"
            + (f" ({len(d.observations) / span:.1f}/s)" if span > 0 else ""),
        ),
        (
            "max replication lag",
            "n/a" if peak_b is None else f"{human_bytes(peak_b)} ({peak_b:.0f} bytes)",
        ),
        ("longest stall of a replica's flush LSN", _secs(peak_stall, 2)),
        ("samples without a readable primary", errors),
    ]
    return rows


def render_html(d: RunData) -> str:
    """The whole page as a string (pure: no I/O)."""
    r = d.result
    w = r.get("writes") or {}
    verdict = str(r.get("verdict", "UNKNOWN"))
    vcol = VERDICT_COLOURS.get(verdict, "#555")
    sc = (d.meta.get("scenario") or {}) if isinstance(d.meta.get("scenario"), dict) else {}
    name = str(r.get("scenario") or sc.get("name") or "?")
    desc = str(sc.get("description") or "")
    window = _num(r.get("data_loss_window_s"))
    rpo = _num(r.get("rpo_declared_s"))
    over = window is not None and rpo is not None and window > rpo
    wall = next(
        (e.get("wall") for e in d.events if e.get("name") == "workload_start" and e.get("wall")),
        None,
    )
    started = ""
    wall_s = _num(wall)
    if wall_s is not None:
        started = datetime.fromtimestamp(wall_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(verdict)} {_e(name)} — rpochaos report</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<h1><span class="verdict" id="verdict" style="background:{vcol}">{_e(verdict)}</span>'
        f"{_e(name)}</h1>",
        f'<div class="sub">{_e(desc)}{" · " if desc else ""}seed {_e(r.get("seed"))} · '
        f"backend {_e(r.get('backend'))}{' · started ' + _e(started) if started else ''}</div>",
    ]
    for note in d.notes:
        parts.append(f'<p class="note">{_e(note)}</p>')
    cards = [
        _card(
            "lost / acknowledged",
            f"{w.get('lost', 0)} / {w.get('acknowledged', 0)}",
            LOST if w.get("lost") else None,
        ),
        _card(
            "data-loss window",
            _secs(window),
            LOST if over else RECOVERY if window is not None else None,
        ),
        _card("declared RPO", _secs(rpo, 3)),
        _card("RTO", _secs(r.get("rto_s"))),
        _card("recovery point", _secs(r.get("recovery_point_s"))),
        _card("outage at", _secs(r.get("outage_at_s"))),
    ]
    parts.append(f'<div class="cards">{"".join(cards)}</div>')
    reasons = r.get("reasons") or []
    if reasons:
        parts.append(
            '<ul class="reasons">' + "".join(f"<li>{_e(x)}</li>" for x in reasons) + "</ul>"
        )

    parts.append("<h2>Timeline</h2>")
    parts.append(f'<div class="chart">{timeline_svg(d)}</div>')
    parts.append(
        '<p class="muted">Bars: acknowledged writes per second by completion time (red: later '
        "lost). Red ticks: each lost acknowledged write. Shaded: fault intervals. Lines: outage "
        "(dark red), recovery point (green), RPO line = outage − RPO (amber, dashed): a "
        "recovery point left of it exceeds the RPO. Hover for values.</p>"
    )

    parts.append("<h2>Writes</h2>")
    parts.append(
        _kv_table(
            [
                ("attempted", w.get("attempted")),
                ("acknowledged", w.get("acknowledged")),
                ("lost (acknowledged, missing after recovery)", w.get("lost")),
                ("recovered (outcome unknown/failed, present)", w.get("recovered")),
                ("phantom (failed, yet present)", w.get("phantom")),
                ("unexpected (present, never written)", w.get("unexpected")),
                ("holes (lost, older than a present write)", w.get("holes")),
                ("first lost acknowledged write completed at", _secs(r.get("first_lost_s"))),
                ("last lost acknowledged write completed at", _secs(r.get("last_lost_s"))),
                ("span of lost writes", _secs(r.get("loss_span_s"))),
                ("data-loss window (outage − recovery point)", _secs(window)),
                ("declared RPO", _secs(rpo)),
                ("RTO (outage to first acknowledged write after it)", _secs(r.get("rto_s"))),
            ]
        )
    )
    lost_seqs = w.get("lost_seqs") or []
    if lost_seqs:
        shown = ", ".join(str(s) for s in lost_seqs[:2000])
        more = f" … and {len(lost_seqs) - 2000} more" if len(lost_seqs) > 2000 else ""
        parts.append(
            f"<details><summary>{len(lost_seqs)} lost sequence numbers</summary>"
            f"<pre>{_e(shown + more)}</pre></details>"
        )
    cancelled = w.get("lost_after_cancelled_sync_wait") or []
    if cancelled:
        parts.append(
            f'<p class="note">{len(cancelled)} lost writes had been acknowledged after a '
            "cancelled wait for synchronous replication.</p>"
        )

    parts.append("<h2>Faults and actions</h2>")
    faults = r.get("faults") or []
    if faults:
        rows = "".join(
            f"<tr><td>{_e(f.get('kind'))}</td><td>{_e(f.get('target'))}</td>"
            f"<td>{_secs(f.get('start_s'))}</td>"
            f"<td>{'never healed' if f.get('end_s') is None else _secs(f.get('end_s'))}</td>"
            f"<td>{_e(json.dumps(f.get('params') or {}))}</td>"
            f"<td>{'outage' if f.get('outage') else ''}</td></tr>"
            for f in faults
        )
        parts.append(
            "<table><tr><th>kind</th><th>target</th><th>start</th><th>end</th><th>params</th>"
            f"<th></th></tr>{rows}</table>"
        )
    else:
        parts.append("<p>none ran</p>")
    fo = r.get("failover") or {}
    parts.append(
        f"<p>promoted: {_e(fo.get('promoted') or 'none')}; final read on: "
        f"{_e(fo.get('final_read_node') or 'none')}</p>"
    )

    parts.append("<h2>Replication (observed)</h2>")
    obs_rows = _observer_stats(d)
    if obs_rows:
        parts.append(_kv_table(obs_rows))
    else:
        parts.append("<p>No observer samples in this run directory (observations.jsonl).</p>")

    parts.append("<h2>Settings in force</h2>")
    dur = dict(r.get("durability") or {})
    reps = dur.pop("replicas", {}) or {}
    parts.append(
        _kv_table(
            [
                *((k, "''" if v == "" else v) for k, v in dur.items()),
                *((f"replica {k}", v) for k, v in reps.items()),
            ]
        )
        if dur or reps
        else "<p>not read (no topology came up)</p>"
    )
    wl = r.get("workload") or {}
    parts.append("<h2>Workload</h2>")
    parts.append(_kv_table(list(wl.items())) if wl else "<p>n/a</p>")
    parts.append("<h2>Versions</h2>")
    vers = r.get("versions") or {}
    parts.append(_kv_table(list(vers.items())) if vers else "<p>not recorded</p>")

    parts.append("<h2>Reproduce</h2>")
    parts.append(f'<pre id="reproduce">{_e(r.get("reproduce") or "")}</pre>')
    parts.append(
        f'<p class="muted">run directory: {_e(r.get("run_dir") or "")}<br>'
        f"recompute: rpochaos analyze {_e(r.get('run_dir') or 'RUN_DIR')}</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
