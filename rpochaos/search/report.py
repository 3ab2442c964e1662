"""The search's HTML page (``report.html`` in its directory): for each numeric dimension, the
score of every example against that dimension's value (red: FAIL, green: PASS, grey: no
verdict), the score at which the verdict flips as a dashed line, and in boundary mode the
bracket shaded with its midpoint marked; then the table of every example. One self-contained
file (inline SVG, no script), rendered with Jinja2 (autoescaped) like the run report.
"""

from __future__ import annotations

import html
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from rpochaos.search.engine import SearchResult
from rpochaos.search.output import example_rows, table_header
from rpochaos.search.space import Dimension, Space

REPORT = "report.html"
_W, _H, _PAD = 420, 260, 40
_COLOURS = {"FAIL": "#b00020", "PASS": "#1b7a1b"}


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def plot_svg(
    d: Dimension,
    points: list[tuple[float, float, str, str]],
    threshold: float | None,
    bracket: tuple[float, float] | None,
) -> str:
    """An SVG scatter of (value, score, verdict, title) over ``d``'s axis [LOW, HIGH]."""
    lo, hi = d.low, d.high if d.high > d.low else d.low + 1
    top = max([p[1] for p in points] + [threshold or 0.0, 1e-9]) * 1.1

    def x(v: float) -> float:
        return _PAD + (v - lo) / (hi - lo) * (_W - 2 * _PAD)

    def y(s: float) -> float:
        return _H - _PAD - s / top * (_H - 2 * _PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'role="img" aria-label="score against {_e(d.name)}">',
        f'<rect x="0" y="0" width="{_W}" height="{_H}" fill="white"/>',
    ]
    if bracket is not None:
        a, b = sorted(bracket)
        parts.append(
            f'<rect x="{x(a):.1f}" y="{_PAD}" width="{max(x(b) - x(a), 1):.1f}" '
            f'height="{_H - 2 * _PAD}" fill="#ffd54f" opacity="0.5">'
            f"<title>boundary between {_e(d.shown(a))} and {_e(d.shown(b))}</title></rect>"
        )
        mid = (a + b) / 2
        parts.append(
            f'<line x1="{x(mid):.1f}" y1="{_PAD}" x2="{x(mid):.1f}" y2="{_H - _PAD}" '
            f'stroke="#e65100" stroke-width="2"><title>boundary ~ {_e(d.shown(round(mid, 3)))}'
            "</title></line>"
        )
    parts.append(
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#333"/>'
        f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_H - _PAD}" stroke="#333"/>'
    )
    if threshold is not None:
        parts.append(
            f'<line x1="{_PAD}" y1="{y(threshold):.1f}" x2="{_W - _PAD}" y2="{y(threshold):.1f}" '
            f'stroke="#b00020" stroke-dasharray="4 3"><title>score {threshold:g}: the verdict '
            "flips</title></line>"
        )
    for v, s, verdict, title in points:
        colour = _COLOURS.get(verdict, "#888")
        parts.append(
            f'<circle cx="{x(v):.1f}" cy="{y(s):.1f}" r="4" fill="{colour}" opacity="0.8">'
            f"<title>{_e(title)}</title></circle>"
        )
    parts.append(
        f'<text x="{_PAD}" y="{_H - 12}" font-size="11">{_e(d.shown(lo))}</text>'
        f'<text x="{_W - _PAD}" y="{_H - 12}" font-size="11" text-anchor="end">'
        f"{_e(d.shown(hi))}</text>"
        f'<text x="{_W / 2}" y="{_H - 12}" font-size="11" text-anchor="middle">{_e(d.name)}</text>'
        f'<text x="4" y="{_PAD - 8}" font-size="11">score (max {top / 1.1:.3g})</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def render(space: Space, r: SearchResult, summary: list[str]) -> str:
    """The page's HTML."""
    threshold = 1.0 if space.score == "window/rpo" else None
    b = r.boundary
    plots = []
    for d in space.dimensions:
        if not d.numeric:
            continue
        points = []
        for e in r.examples:
            value, score = e.candidate.values[d.name], e.outcome.score
            if isinstance(value, float) and score is not None:
                title = f"#{e.n} {e.phase}: {space.describe(e.candidate)} -> {e.outcome.verdict}"
                points.append((value, score, e.outcome.verdict, title))
        bracket = None
        if b is not None and b.dimension == d.name and b.passing is not None:
            bracket = None if b.failing is None else (b.passing, b.failing)
        plots.append(
            {
                "name": d.name,
                "svg": plot_svg(d, points, threshold, bracket),
                "boundary": bracket is not None,
            }
        )
    env = Environment(
        loader=PackageLoader("rpochaos.search", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
    )
    return env.get_template("search.html.j2").render(
        name=space.name,
        path=str(space.path),
        score=space.score,
        threshold=threshold,
        summary=summary,
        plots=plots,
        header=table_header(space),
        rows=example_rows(space, r.examples),
    )


def write_report(out_dir: Path, space: Space, r: SearchResult, summary: list[str]) -> Path:
    path = out_dir / REPORT
    path.write_text(render(space, r, summary), encoding="utf-8")
    return path
