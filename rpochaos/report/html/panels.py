"""The panels of the timeline that draw data: acknowledgements per bin, the rug of lost writes,
replication lag in bytes and in seconds, and the observer's error intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rpochaos.history import OK
from rpochaos.report.html.data import RunData, Sample
from rpochaos.report.html.svg import (
    KEPT,
    LEFT,
    LOST,
    OTHER,
    PLOT_W,
    REPLICA_COLOURS,
    Panel,
    Svg,
    XScale,
    bin_width,
    byte_ticks,
    esc,
    human_bytes,
    legend,
    nice_max,
    nice_ticks,
    num,
    path_d,
    polyline_segments,
    text_w,
    y_axis,
)


def acks_panel(svg: Svg, d: RunData, X: XScale, p: Panel, t0: float, t1: float) -> None:
    w = bin_width(t1 - t0)
    n = max(1, math.ceil((t1 - t0) / w))
    h = d.history
    done = ~np.isnan(h.complete_s)
    # the bin of each completed op: int() of (t - t0) / w, clamped to the axis
    b = np.clip(np.trunc((h.complete_s[done] - t0) / w), 0, n - 1).astype(np.int64)
    ok = (h.outcome == OK)[done]
    lost_done = d.lost[done] if len(d.lost) == len(h) else np.zeros(len(b), bool)
    kept = np.bincount(b[ok & ~lost_done], minlength=n).tolist()
    lostc = np.bincount(b[ok & lost_done], minlength=n).tolist()
    other = np.bincount(b[~ok], minlength=n).tolist()
    peak = max([(k + lo) / w for k, lo in zip(kept, lostc, strict=True)] + [o / w for o in other])
    vmax = nice_max(peak * 1.25) if peak > 0 else 1.0
    y_axis(svg, p, nice_ticks(0, vmax, 4), vmax, lambda v: f"{v:g}")
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
            f'<path class="series" data-series="failed" d="{path_d(pts)}" fill="none" '
            f'stroke="{OTHER}" stroke-width="1.5"><title>failed or unknown outcome / s'
            f"</title></path>"
        )
    legend(
        svg,
        p,
        [
            (KEPT, "acknowledged, kept", ""),
            (LOST, "acknowledged, lost", ""),
            (OTHER, "failed / unknown", ""),
        ],
    )


def rug_panel(svg: Svg, d: RunData, X: XScale, p: Panel) -> None:
    h = d.history
    n_lost = int(np.count_nonzero(d.lost)) if len(d.lost) == len(h) else 0
    svg.text(LEFT - 7, p.top + 15, "lost", anchor="end", size=10, fill=LOST, weight="bold")
    svg.add(
        f'<rect x="{LEFT}" y="{p.top:.1f}" width="{PLOT_W}" height="{p.height:.1f}" '
        f'fill="#fafafa" stroke="#e0e0e0"/>'
    )
    times = h.complete_s[d.lost] if n_lost else np.zeros(0)
    times = times[~np.isnan(times)]
    first = float(times.min()) if len(times) else None
    last = float(times.max()) if len(times) else None
    # half-pixel buckets: one stroke per bucket, however many writes it holds
    clamped = np.clip(times, X.t0, X.t1)
    buckets = np.round((LEFT + (clamped - X.t0) / (X.t1 - X.t0) * PLOT_W) * 2).astype(np.int64)
    px = np.flatnonzero(np.bincount(buckets)) if len(buckets) else np.zeros(0, np.int64)
    parts = [f"M{x / 2:.1f},{p.top + 2:.1f} V{p.bottom - 2:.1f}" for x in px.tolist()]
    title = (
        f"{n_lost} lost acknowledged writes, completed {first:.3f} .. {last:.3f} s"
        if first is not None and last is not None
        else "no lost acknowledged write"
    )
    svg.add(
        f'<path class="series" data-series="lost" d="{" ".join(parts) or "M0,0"}" '
        f'stroke="{LOST}" stroke-width="1" fill="none"><title>{esc(title)}</title></path>'
    )
    if not n_lost:
        svg.text(LEFT + 6, p.top + 15, "no acknowledged write was lost", size=10, fill="#555")


def series_of(samples: Sequence[Sample], name: str, key: str) -> list[tuple[float, float | None]]:
    out: list[tuple[float, float | None]] = []
    for s in samples:
        t = num(s.get("t"))
        if t is None:
            continue
        rep = next((r for r in s.get("replicas") or () if r.get("name") == name), None)
        out.append((t, num(rep.get(key)) if rep else None))
    return out


def lag_bytes_panel(svg: Svg, d: RunData, X: XScale, p: Panel, replicas: list[str]) -> None:
    series = {n: series_of(d.observations, n, "lag_bytes") for n in replicas}
    peak = max((v for s in series.values() for _, v in s if v is not None), default=0.0)
    vmax, ticks = byte_ticks(peak * 1.1)
    y_axis(svg, p, ticks, vmax, human_bytes)
    for i, n in enumerate(replicas):
        col = REPLICA_COLOURS[i % len(REPLICA_COLOURS)]
        for run in polyline_segments(
            (X(t), None if v is None else p.y(v, vmax)) for t, v in series[n]
        ):
            svg.add(
                f'<path class="series" data-series="lag-bytes-{esc(n)}" d="{path_d(run)}" '
                f'fill="none" stroke="{col}" stroke-width="2"><title>{esc(n)}: '
                f"pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn), peak "
                f"{human_bytes(peak)}</title></path>"
            )
        # what the replica lacked when the outage struck: the bytes a failover to it loses
        outage = d.result.outage_at_s
        before = [
            (t, v) for t, v in series[n] if v is not None and outage is not None and t <= outage
        ]
        if before:
            t, v = before[-1]
            x, yv = X(t), p.y(v, vmax)
            lab = f"{n}: {human_bytes(v)} behind at the outage"
            svg.add(
                f'<circle class="lag-at-outage" cx="{x:.1f}" cy="{yv:.1f}" r="3.5" '
                f'fill="{col}"><title>{esc(lab)} (sample at {t:.2f} s)</title></circle>'
            )
            lx = x + 6 if x + 6 + text_w(lab, 10) < LEFT + PLOT_W else x - 6
            svg.text(
                lx,
                max(p.top + 26, yv - 6 + 14 * i),
                lab,
                anchor="start" if lx > x else "end",
                size=10,
                fill=col,
                weight="bold",
            )
    legend(svg, p, [(REPLICA_COLOURS[i % 6], n, "") for i, n in enumerate(replicas)])


def lag_s_panel(svg: Svg, d: RunData, X: XScale, p: Panel, replicas: list[str]) -> None:
    flush = {n: series_of(d.observations, n, "flush_lag_s") for n in replicas}
    stalled = {n: series_of(d.observations, n, "stalled_s") for n in replicas}
    peak = max(
        (v for s in [*flush.values(), *stalled.values()] for _, v in s if v is not None),
        default=0.0,
    )
    vmax = nice_max(peak * 1.1) if peak > 0 else 1.0
    y_axis(svg, p, nice_ticks(0, vmax, 4), vmax, lambda v: f"{v:g} s")
    items: list[tuple[str, str, str]] = []
    for i, n in enumerate(replicas):
        col = REPLICA_COLOURS[i % len(REPLICA_COLOURS)]
        for key, data, dash, what in (
            ("flush-lag", flush[n], "", "flush_lag (server clock; NULL during a blackhole)"),
            ("stalled", stalled[n], "5,3", "flush LSN not advancing (harness clock)"),
        ):
            for run in polyline_segments(
                (X(t), None if v is None else p.y(v, vmax)) for t, v in data
            ):
                if len(run) == 1:  # a lone point: draw a dot-sized segment
                    run = [run[0], (run[0][0] + 1.0, run[0][1])]
                dd = f' stroke-dasharray="{dash}"' if dash else ""
                svg.add(
                    f'<path class="series" data-series="{key}-{esc(n)}" d="{path_d(run)}" '
                    f'fill="none" stroke="{col}" stroke-width="2"{dd}>'
                    f"<title>{esc(n)}: {esc(what)}</title></path>"
                )
        items += [(col, f"{n} flush_lag", ""), (col, f"{n} stalled", "5,3")]
    legend(svg, p, items)


def error_intervals(samples: Sequence[Sample]) -> list[tuple[float, float, str]]:
    out: list[tuple[float, float, str]] = []
    start: float | None = None
    why = ""
    prev_t: float | None = None
    for s in samples:
        t = num(s.get("t"))
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
