"""The drawing kit of report.html's timeline: colours, geometry, scales, ticks and a small SVG
writer. Every string put into SVG text or attributes goes through ``esc``."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

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
#: the requested-to-effective band of a fault or of the outage
GAP_FILL = "#5a189a"

# -- geometry (SVG user units) ---------------------------------------------------------------
WIDTH = 1200
LEFT = 84
RIGHT = 24
PLOT_W = WIDTH - LEFT - RIGHT
LANE_H = 17


def esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def num(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None


def secs(v: object, digits: int = 3) -> str:
    f = num(v)
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


def nice_max(v: float) -> float:
    """The smallest 'round' value >= v (for a y axis)."""
    if v <= 0 or not math.isfinite(v):
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    return float(next(m * mag for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * mag >= v))


def byte_ticks(vmax: float) -> tuple[float, list[float]]:
    """A y-axis top and ticks in binary units (multiples of 1, 2, 5 x 1024^k)."""
    if vmax <= 0:
        return 1024.0, [0.0, 512.0, 1024.0]
    base = 1.0
    for size in (1 << 30, 1 << 20, 1 << 10):
        if vmax >= size:
            base = float(size)
            break
    top = nice_max(vmax / base) * base
    return top, [t * base for t in nice_ticks(0.0, top / base, 4)]


@dataclass(frozen=True)
class XScale:
    t0: float
    t1: float

    def __call__(self, t: float) -> float:
        t = min(max(t, self.t0), self.t1)
        return LEFT + (t - self.t0) / (self.t1 - self.t0) * PLOT_W


def bin_width(span: float) -> float:
    for w in (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0):
        if span / w <= 200:
            return w
    return span / 200


def polyline_segments(
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


def path_d(pts: Sequence[tuple[float, float]]) -> str:
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts)


class Svg:
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
            f'fill="{fill}" font-weight="{weight}"{c}>{esc(s)}</text>'
        )


@dataclass
class Panel:
    title: str
    top: float
    height: float

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def y(self, v: float, vmax: float) -> float:
        v = min(max(v, 0.0), vmax)
        return self.bottom - v / vmax * self.height


def assign_lanes(items: list[tuple[float, float]]) -> list[int]:
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


def text_w(s: str, size: int = 11) -> float:
    return len(s) * size * 0.56


def y_axis(
    svg: Svg, p: Panel, ticks: list[float], vmax: float, fmt: Callable[[float], str]
) -> None:
    for v in ticks:
        if v > vmax + 1e-9:
            continue
        yy = p.y(v, vmax)
        svg.add(
            f'<line x1="{LEFT - 4}" y1="{yy:.1f}" x2="{LEFT + PLOT_W}" y2="{yy:.1f}" '
            f'stroke="#eeeeee"/>'
        )
        svg.text(LEFT - 7, yy + 4, fmt(v), anchor="end", size=10, fill="#555")


def legend(svg: Svg, p: Panel, items: list[tuple[str, str, str]]) -> None:
    """items: (colour, label, dash) drawn right-aligned on the panel's title row."""
    x = float(LEFT + PLOT_W - 8)
    for colour, label, dash in reversed(items):
        w = text_w(label, 10)
        x -= w
        svg.text(x, p.top + 13, label, size=10, fill="#333")
        x -= 22
        d = f' stroke-dasharray="{dash}"' if dash else ""
        svg.add(
            f'<line x1="{x:.1f}" y1="{p.top + 9:.1f}" x2="{x + 16:.1f}" y2="{p.top + 9:.1f}" '
            f'stroke="{colour}" stroke-width="3"{d}/>'
        )
        x -= 14
