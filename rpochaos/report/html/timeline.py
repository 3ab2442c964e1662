"""The timeline: one inline SVG sharing a time axis between the panels (panels.py), with each
fault as a shaded interval (instant actions as lines), the band from its request to its effect
where that is wider than 1 ms, the outage, the recovery point, the RPO line and the data-loss
window drawn against the RPO."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rpochaos.report.html.data import RunData
from rpochaos.report.html.panels import (
    acks_panel,
    error_intervals,
    lag_bytes_panel,
    lag_s_panel,
    rug_panel,
)
from rpochaos.report.html.svg import (
    FAULT_FILL,
    GAP_FILL,
    INSTANT_STROKE,
    LANE_H,
    LEFT,
    LOST,
    OUTAGE,
    PLOT_W,
    RECOVERY,
    RPO_LINE,
    WIDTH,
    Panel,
    Svg,
    XScale,
    assign_lanes,
    bin_width,
    esc,
    nice_ticks,
    num,
    secs,
    text_w,
)
from rpochaos.report.summary import ms, shown
from rpochaos.result import Fault


def time_extent(d: RunData) -> tuple[float, float]:
    """The time axis: 0 .. the last thing that happened, plus a margin."""
    r = d.result
    ts: list[float] = [0.0]
    if r.workload.duration_s is not None:
        ts.append(r.workload.duration_s)
    h = d.history
    if len(h):
        ts.append(float(h.invoke_s.max()))
        done = h.complete_s[~np.isnan(h.complete_s)]
        if len(done):
            ts.append(float(done.max()))
    ts.extend(d.event_times)
    if d.observations:
        t = num(d.observations[-1].get("t"))
        if t is not None:
            ts.append(t)
    for t in (r.outage_at_s, r.recovery_point_s):
        if t is not None:
            ts.append(t)
    hi = max(ts)
    return 0.0, hi + max(0.2, 0.02 * hi)


@dataclass(frozen=True)
class Drawn:
    """A fault as the timeline draws it: a never-healed one runs to the end of the axis."""

    fault: Fault
    end: float
    open: bool

    @property
    def start(self) -> float:
        return self.fault.start_s


def faults_drawn(d: RunData, t_end: float) -> list[Drawn]:
    return [
        Drawn(f, t_end if f.end_s is None else f.end_s, f.end_s is None) for f in d.result.faults
    ]


def fault_label(f: Fault) -> str:
    params = " ".join(f"{k}={v}" for k, v in f.params.items())
    s = f"{f.kind} {f.target}"
    if params:
        s += f" ({params})"
    return s


def gap_bands(d: RunData) -> list[tuple[float, float, str]]:
    """(from, to, title) for every requested-to-effective gap wider than 1 ms: each fault's
    start and heal, and the outage."""
    out: list[tuple[float, float, str]] = []
    for f in d.result.faults:
        for a, b, what in (
            (f.requested_start_s, f.effective_start_s, "requested .. in effect"),
            (None, None, "")
            if f.instant
            else (f.requested_end_s, f.effective_end_s, "heal requested .. healed"),
        ):
            if a is not None and b is not None and shown(b - a):
                out.append((a, b, f"{fault_label(f)}: {what} {a:.3f} .. {b:.3f} s (+{ms(b - a)})"))
    r = d.result
    a, b = r.outage_requested_at_s, r.outage_at_s
    if a is not None and b is not None and shown(b - a):
        out.append((a, b, f"outage: requested .. in force {a:.3f} .. {b:.3f} s (+{ms(b - a)})"))
    return out


def timeline_svg(d: RunData) -> str:
    """The timeline as one inline ``<svg>`` element."""
    r = d.result
    t0, t1 = time_extent(d)
    X = XScale(t0, t1)
    svg = Svg()
    faults = faults_drawn(d, t1)
    outage = r.outage_at_s
    recovery = r.recovery_point_s
    rpo = r.rpo_declared_s
    window = r.data_loss_window_s
    rto = r.rto_s

    # header: fault labels on lanes, then the window-vs-RPO brackets
    label_items: list[tuple[float, float, str, Drawn]] = []
    for f in faults:
        lab = fault_label(f.fault) + (f" @{f.start:.2f}s" if f.fault.instant else "")
        x = X(f.start)
        x = min(x, LEFT + PLOT_W - text_w(lab))
        label_items.append((x, x + text_w(lab), lab, f))
    label_items.sort(key=lambda it: it[0])
    lanes = assign_lanes([(a, b) for a, b, _, _ in label_items])
    n_lanes = max(lanes) + 1 if lanes else 0
    y = 8.0
    lanes_top = y
    y += n_lanes * LANE_H
    bracket_top = y + 4
    has_brackets = outage is not None and (recovery is not None or rpo is not None)
    if has_brackets:
        y = bracket_top + 2 * 20 + 4
    panels: list[tuple[str, Panel]] = []
    y += 8
    w_bin = bin_width(t1 - t0)
    panels.append(("acks", Panel(f"acknowledged writes / s ({w_bin:g} s bins)", y, 170)))
    y += 170 + 6
    rug = Panel("lost writes", y, 22)
    y += 22 + 14
    replicas = sorted({str(x["name"]) for s in d.observations for x in s.get("replicas") or ()})
    if replicas:
        panels.append(("lag_bytes", Panel("replication lag (bytes, clock-free)", y, 140)))
        y += 140 + 24
        panels.append(("lag_s", Panel("replication lag (seconds)", y, 140)))
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
    for f in faults:
        if f.fault.instant:
            continue
        x_a, x_b = X(f.start), X(f.end)
        kind = f.fault.kind
        fill = FAULT_FILL.get(kind, "#bbbbbb")
        title = f"{fault_label(f.fault)}: {f.start:.3f} s .. " + (
            "end of run (never healed)" if f.open else f"{f.end:.3f} s"
        )
        svg.add(
            f'<rect class="fault" data-kind="{esc(kind)}" x="{x_a:.1f}" y="{lanes_top:.1f}" '
            f'width="{max(1.0, x_b - x_a):.1f}" height="{axis_y - lanes_top:.1f}" fill="{fill}" '
            f'fill-opacity="0.22"><title>{esc(title)}</title></rect>'
        )
    # requested -> effective, where wider than 1 ms: a thin band
    for a, b, title in gap_bands(d):
        x_a, x_b = X(a), X(b)
        svg.add(
            f'<rect class="fault-gap" x="{x_a:.1f}" y="{lanes_top:.1f}" '
            f'width="{max(1.0, x_b - x_a):.1f}" height="{axis_y - lanes_top:.1f}" '
            f'fill="{GAP_FILL}" fill-opacity="0.35"><title>{esc(title)}</title></rect>'
        )
    for (x_lab, _xe, lab, f), lane in zip(label_items, lanes, strict=True):
        ly = lanes_top + lane * LANE_H + 12
        if f.fault.instant:
            kind = f.fault.kind
            stroke = OUTAGE if f.fault.outage else INSTANT_STROKE.get(kind, "#444")
            xi = X(f.start)
            svg.add(
                f'<line class="instant" data-kind="{esc(kind)}" x1="{xi:.1f}" '
                f'y1="{lanes_top + lane * LANE_H + 14:.1f}" x2="{xi:.1f}" y2="{axis_y:.1f}" '
                f'stroke="{stroke}" stroke-width="1.2" stroke-dasharray="2,3">'
                f"<title>{esc(lab)}</title></line>"
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
            lab = f"data-loss window {secs(window)}"
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
            acks_panel(svg, d, X, p, t0, t1)
        elif key == "lag_bytes":
            lag_bytes_panel(svg, d, X, p, replicas)
        elif key == "lag_s":
            lag_s_panel(svg, d, X, p, replicas)
    rug_panel(svg, d, X, rug)
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
        for a, b, why in error_intervals(d.observations):
            xa, xb = X(a), X(b)
            svg.add(
                f'<rect class="observer-error" x="{xa:.1f}" y="{lag_top:.1f}" '
                f'width="{max(1.0, xb - xa):.1f}" height="{axis_y - 14 - lag_top:.1f}" '
                f'fill="#9e9e9e" fill-opacity="0.18"><title>{esc(why)} '
                f"({a:.2f} .. {b:.2f} s)</title></rect>"
            )

    # vertical markers across all panels
    def vline(t: float, colour: str, label: str, cls: str, dash: str, width: float) -> None:
        x = X(t)
        svg.add(
            f'<line class="{cls}" x1="{x:.1f}" y1="{first_top:.1f}" x2="{x:.1f}" '
            f'y2="{axis_y:.1f}" stroke="{colour}" stroke-width="{width}" '
            f'stroke-dasharray="{dash}"><title>{esc(label)}</title></line>'
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
    for period in r.semi_sync.off if r.semi_sync is not None else []:
        vline(
            period.off_s,
            "#6a1b9a",
            f"semi-sync switched OFF {period.off_s:.3f} s",
            "semi-sync-off",
            "",
            2,
        )
        marker_labels.append((period.off_s, "semi-sync OFF", "#6a1b9a"))
        if period.on_s is not None:
            vline(
                period.on_s,
                "#2e7d32",
                f"semi-sync back ON {period.on_s:.3f} s",
                "semi-sync-on",
                "",
                2,
            )
            marker_labels.append((period.on_s, "semi-sync ON", "#2e7d32"))
    # labels under the acks panel title row, staggered so they do not collide
    acks = panels[0][1]
    marker_labels.sort()
    lab_items = []
    for t, lab, col in marker_labels:
        x = X(t)
        w = text_w(lab, 10)
        lab_items.append((x - w / 2, x + w / 2, lab, col, x))
    mlanes = assign_lanes([(a, b) for a, b, *_ in lab_items])
    for (a, _b, lab, col, _x), lane in zip(lab_items, mlanes, strict=True):
        a = min(max(a, LEFT + 2), LEFT + PLOT_W - text_w(lab, 10))
        ty = acks.top + 28 + lane * 12
        svg.add(
            f'<rect x="{a - 2:.1f}" y="{ty - 9:.1f}" width="{text_w(lab, 10) + 4:.1f}" '
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
