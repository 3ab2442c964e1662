"""The page of report.html: a Jinja2 template (templates/report.html.j2) around the timeline
SVG, filled from the run's ``Result``.

The environment autoescapes: every value the template prints is escaped (``html.escape`` with
quotes, applied by ``finalize``; the same escaping the SVG gets), unless it is ``Markup`` — and
the only markup passed in is the timeline SVG, which timeline.py builds with every string from
the run directory escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from rpochaos.report.html.data import RunData, load_run_data
from rpochaos.report.html.svg import LOST, RECOVERY, VERDICT_COLOURS, human_bytes, num, secs
from rpochaos.report.html.timeline import timeline_svg
from rpochaos.report.semisync import semi_sync_lines
from rpochaos.report.summary import leadership_line, ms, shown, window_text
from rpochaos.report.witness import red_line, rewind_lines
from rpochaos.result import Fault, Result
from rpochaos.seqs import ranges_text

REPORT = "report.html"
TEMPLATE = "report.html.j2"

Row = tuple[str, object]


def _escape(value: object) -> object:
    """finalize: escape every printed value not already markup (quotes included)."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("rpochaos.report.html", "templates"),
        autoescape=True,
        finalize=_escape,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def write_html(run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` from the run directory alone and return its path."""
    run_dir = Path(run_dir)
    out = run_dir / REPORT
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(render_html(load_run_data(run_dir)), encoding="utf-8")
    tmp.replace(out)
    return out


@dataclass(frozen=True)
class Card:
    key: str
    value: str
    colour: str | None = None


def _rows(items: Iterable[Row]) -> list[Row]:
    return [(k, "—" if v is None else v) for k, v in items]


def _observer_stats(d: RunData) -> list[Row]:
    if not d.observations:
        return []
    peak_b: float | None = None
    peak_stall: float | None = None
    errors = 0
    for s in d.observations:
        if s.get("error"):
            errors += 1
        for rep in s.get("replicas") or ():
            b = num(rep.get("lag_bytes"))
            st = num(rep.get("stalled_s"))
            if b is not None and (peak_b is None or b > peak_b):
                peak_b = b
            if st is not None and (peak_stall is None or st > peak_stall):
                peak_stall = st
    ts = [t for t in (num(s.get("t")) for s in d.observations) if t is not None]
    span = (max(ts) - min(ts)) if len(ts) > 1 else 0.0
    return [
        (
            "samples",
            f"{len(d.observations)} over {span:.1f} s"
            + (f" ({len(d.observations) / span:.1f}/s)" if span > 0 else ""),
        ),
        (
            "max replication lag",
            "n/a" if peak_b is None else f"{human_bytes(peak_b)} ({peak_b:.0f} bytes)",
        ),
        ("longest stall of a replica's flush LSN", secs(peak_stall, 2)),
        ("samples without a readable primary", errors),
    ]


def _at(t: float | None, since: float | None) -> str:
    """'2.004 s (+4.2 ms)': a time, and its gap from the request where wider than 1 ms;
    'unknown' when not recorded."""
    if t is None:
        return "unknown"
    gap = None if since is None else t - since
    return secs(t) + (f" (+{ms(gap)})" if gap is not None and shown(gap) else "")


def fault_row(f: Fault) -> list[str]:
    """kind, target, requested, in effect, heal requested, end, params, outage."""
    if f.instant:
        heal_req, end = "—", "—"
    elif f.end_s is None:
        heal_req, end = "—", "never healed"
    else:
        heal_req = "unknown" if f.requested_end_s is None else secs(f.requested_end_s)
        end = _at(
            f.effective_end_s if f.effective_end_s is not None else f.end_s, f.requested_end_s
        )
    return [
        f.kind,
        f.target,
        secs(f.start_s),
        _at(f.effective_start_s, f.requested_start_s),
        heal_req,
        end,
        json.dumps(f.params),
        "outage" if f.outage else "",
    ]


def _resolution(r: Result) -> list[Row]:
    sp = r.ack_spacing_s
    return _rows(
        [
            ("data-loss window", window_text(r)),
            ("spacing of acknowledgements around the recovery point", _ms(sp.recovery_point_s)),
            ("spacing of acknowledgements at the outage", _ms(sp.outage_s)),
            (
                "outage requested at",
                "unknown" if r.outage_requested_at_s is None else secs(r.outage_requested_at_s),
            ),
            ("outage in force at", _at(r.outage_at_s, r.outage_requested_at_s)),
        ]
    )


def _ms(x: float | None) -> str:
    return "n/a" if x is None else ms(x)


def render_html(d: RunData) -> str:
    """The whole page as a string (pure: no I/O beyond reading the packaged template)."""
    r = d.result
    w = r.writes
    verdict = r.verdict.value
    window = r.data_loss_window_s
    started = ""
    if d.started_wall is not None:
        started = datetime.fromtimestamp(d.started_wall, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    cards = [
        Card("lost / acknowledged", f"{w.lost} / {w.acknowledged}", LOST if w.lost else None),
        Card(
            "data-loss window",
            window_text(r),
            LOST if r.over_rpo else RECOVERY if window is not None else None,
        ),
        Card("declared RPO", secs(r.rpo_declared_s, 3)),
        Card("RTO", secs(r.rto_s)),
        Card("recovery point", secs(r.recovery_point_s)),
        Card("outage at", secs(r.outage_at_s)),
    ]
    writes = _rows(
        [
            ("attempted", w.attempted),
            ("acknowledged", w.acknowledged),
            ("lost (acknowledged, missing after recovery)", w.lost),
            ("recovered (outcome unknown/failed, present)", w.recovered),
            ("phantom (failed, yet present)", w.phantom),
            ("unexpected (present, never written)", w.unexpected),
            ("holes (lost, older than a present write)", w.holes),
            ("first lost acknowledged write completed at", secs(r.first_lost_s)),
            ("last lost acknowledged write completed at", secs(r.last_lost_s)),
            ("span of lost writes", secs(r.loss_span_s)),
            ("data-loss window (outage − recovery point)", window_text(r)),
            ("declared RPO", secs(r.rpo_declared_s)),
            ("RTO (outage to first acknowledged write after it)", secs(r.rto_s)),
        ]
    )
    # the lost seqs as ranges: result.json's (at most RANGES_SHOWN), the count says if more
    lost_seqs = ranges_text(w.seq_ranges.lost, w.lost) if w.lost else ""
    settings = [
        *((k, "''" if v == "" else v) for k, v in r.settings_in_force().items()),
        *((f"replica {k}", v) for k, v in r.replica_modes().items()),
    ]
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            verdict=verdict,
            verdict_colour=VERDICT_COLOURS.get(verdict, "#555"),
            name=r.scenario or "?",
            description=d.description,
            seed=r.seed,
            backend=r.backend,
            started=started,
            notes=d.notes,
            cards=cards,
            reasons=r.reasons,
            semi_sync=semi_sync_lines(r),
            witness=r.witness.line() if r.witness is not None else "",
            witness_red=red_line(r),
            rewinds=rewind_lines(r),
            timeline=Markup(timeline_svg(d)),
            writes=writes,
            lost_seqs=lost_seqs,
            lost_count=w.lost,
            cancelled=w.lost_after_cancelled_sync_wait,
            resolution=_resolution(r),
            faults=[fault_row(f) for f in r.faults],
            promoted=r.failover.promoted or "none",
            final_read_node=r.failover.final_read_node or "none",
            leadership=leadership_line(r),
            failover_reason=r.failover.reason or "",
            observed=_observer_stats(d),
            settings=_rows(settings),
            workload=_rows(r.workload.model_dump().items()),
            versions=_rows(r.versions.items()),
            reproduce=r.reproduce or "",
            run_dir=r.run_dir or "",
        )
    )
