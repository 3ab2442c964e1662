"""report.html: one self-contained page per run, built from the run directory alone.

``write_html(run_dir)`` reads result.json (recomputed in memory by ``analyze``'s code when it
is missing), history.jsonl, events.jsonl, resolved.json and, when present,
observations.jsonl, and writes ``run_dir/report.html``: the summary (verdict, counts, window
against the RPO with its resolution, RTO, durability settings, versions, the reproduce command)
and a timeline drawn as inline SVG, generated here. No script, no font, no stylesheet, no image
is fetched: the file opens offline and can be attached to a ticket as it is.

The timeline shares one time axis (harness seconds since the workload started) between:

- acknowledged writes per second, by completion time; the part of each bar that was later lost
  is red; writes that failed or whose outcome is unknown are a grey line;
- a rug of red ticks, one per lost acknowledged write, at its completion time;
- replication lag in bytes per replica (``pg_wal_lsn_diff``, clock-free), when observed;
- replication lag in seconds per replica: PostgreSQL's ``flush_lag`` (solid) and ``stalled``,
  how long the replica's flush LSN has not moved while behind (dashed, harness clock), which is
  what shows a blackhole: the server's lag columns are NULL then;
- over all of them: each fault as a shaded, labelled interval (instant actions — crash,
  promote, restart — as labelled lines), a thin band from a fault's (or the outage's) request
  to its effect where that took more than 1 ms, the outage, the recovery point, the RPO line
  (the outage minus the declared RPO: a recovery point left of it means FAIL) and, on top, the
  data-loss window (recovery point .. outage) drawn against the RPO.

Hover any element for its exact value (SVG ``<title>``).

Modules: ``data`` (loading), ``svg`` (colours, geometry, the SVG writer), ``panels`` (the data
panels), ``timeline`` (the whole SVG), ``page`` (the Jinja2 page, templates/report.html.j2).
"""

from rpochaos.report.html.data import RunData, load_run_data
from rpochaos.report.html.page import REPORT, render_html, write_html
from rpochaos.report.html.panels import error_intervals
from rpochaos.report.html.svg import (
    FAULT_FILL,
    KEPT,
    LOST,
    REPLICA_COLOURS,
    human_bytes,
    nice_ticks,
)
from rpochaos.report.html.timeline import timeline_svg

#: the name the tests have long used
_error_intervals = error_intervals

__all__ = [
    "FAULT_FILL",
    "KEPT",
    "LOST",
    "REPLICA_COLOURS",
    "REPORT",
    "RunData",
    "error_intervals",
    "human_bytes",
    "load_run_data",
    "nice_ticks",
    "render_html",
    "timeline_svg",
    "write_html",
]
