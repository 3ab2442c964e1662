"""Metrics: one OpenMetrics text file per run, and an optional push to a Pushgateway.

Built with the standard Prometheus client library (``prometheus_client``): a private
``CollectorRegistry`` per call, rendered with
``prometheus_client.openmetrics.exposition.generate_latest`` or pushed with
``prometheus_client.push_to_gateway``. Every sample carries the label ``scenario``.

============================================  ==========  ========================================
metric                                        type        value (from result.json)
============================================  ==========  ========================================
rpochaos_lost_writes                          gauge       writes.lost
rpochaos_acknowledged_writes                  gauge       writes.acknowledged
rpochaos_attempted_writes                     gauge       writes.attempted
rpochaos_recovered_writes                     gauge       writes.recovered
rpochaos_phantom_writes                       gauge       writes.phantom
rpochaos_unexpected_writes                    gauge       writes.unexpected
rpochaos_data_loss_window_seconds             gauge       data_loss_window_s (absent when null)
rpochaos_data_loss_window_resolution_seconds  gauge       window_resolution_s (absent when null)
rpochaos_rpo_declared_seconds                 gauge       rpo_declared_s
rpochaos_rto_seconds                          gauge       rto_s (absent when null)
rpochaos_max_replication_lag_bytes            gauge       the observer's largest lag_bytes (absent
                                                          when nothing was observed)
rpochaos_verdict                              stateset    1 for the verdict, 0 for the other two
rpochaos_run                                  info        seed, backend
============================================  ==========  ========================================

A value that result.json has as null is left out rather than written as NaN, so a dashboard
never mistakes "unknown" for a number. These are gauges, not counters: each run is a fresh
measurement, not a running total.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, Enum, Gauge, Info, push_to_gateway
from prometheus_client.openmetrics.exposition import generate_latest

from rpochaos.observe.postgres import OBSERVATIONS, max_lag_bytes, read_observations
from rpochaos.result import Result, Writes, as_result

#: the file name in the run directory
METRICS = "metrics.openmetrics.txt"
VERDICTS = ("PASS", "FAIL", "UNKNOWN")

_COUNTS: tuple[tuple[str, str, Callable[[Writes], int]], ...] = (
    ("rpochaos_lost_writes", "Acknowledged writes missing after recovery.", lambda w: w.lost),
    (
        "rpochaos_acknowledged_writes",
        "Writes the system acknowledged.",
        lambda w: w.acknowledged,
    ),
    ("rpochaos_attempted_writes", "Writes the workload attempted.", lambda w: w.attempted),
    (
        "rpochaos_recovered_writes",
        "Writes of unknown/failed outcome present.",
        lambda w: w.recovered,
    ),
    ("rpochaos_phantom_writes", "Writes that failed yet are present.", lambda w: w.phantom),
    ("rpochaos_unexpected_writes", "Present values no write produced.", lambda w: w.unexpected),
)

ResultLike = Result | Mapping[str, object]


def build_registry(result: ResultLike, max_lag_bytes: float | None) -> CollectorRegistry:
    """A fresh registry holding one run's metrics."""
    r = as_result(result)
    reg = CollectorRegistry(auto_describe=True)
    scenario = r.scenario or "unknown"
    for name, doc, count in _COUNTS:
        g = Gauge(name, doc, ["scenario"], registry=reg)
        g.labels(scenario=scenario).set(float(count(r.writes)))
    seconds = (
        (
            "rpochaos_data_loss_window_seconds",
            r.data_loss_window_s,
            "Outage time minus recovery point (harness clock).",
        ),
        (
            "rpochaos_data_loss_window_resolution_seconds",
            r.window_resolution_s,
            "The window is known to +- this: the spacing of acknowledgements at its ends.",
        ),
        ("rpochaos_rpo_declared_seconds", r.rpo_declared_s, "The declared RPO."),
        (
            "rpochaos_rto_seconds",
            r.rto_s,
            "Outage to the first acknowledged write on the new primary.",
        ),
    )
    for name, v, doc in seconds:
        g = Gauge(name, doc, ["scenario"], unit="seconds", registry=reg)
        if v is not None:
            g.labels(scenario=scenario).set(v)
    lag = Gauge(
        "rpochaos_max_replication_lag_bytes",
        "Largest replication lag observed (pg_wal_lsn_diff of current and flush LSN).",
        ["scenario"],
        unit="bytes",
        registry=reg,
    )
    if max_lag_bytes is not None:
        lag.labels(scenario=scenario).set(float(max_lag_bytes))
    verdict = Enum(
        "rpochaos_verdict",
        "The RPO verdict of the run.",
        ["scenario"],
        states=list(VERDICTS),
        registry=reg,
    )
    verdict.labels(scenario=scenario).state(r.verdict.value)
    info = Info("rpochaos_run", "The run's seed and backend.", ["scenario"], registry=reg)
    info.labels(scenario=scenario).info({"seed": str(r.seed), "backend": str(r.backend)})
    return reg


def render_openmetrics(result: ResultLike, max_lag_bytes: float | None) -> bytes:
    """The OpenMetrics text exposition (ends with ``# EOF``)."""
    registry = build_registry(result, max_lag_bytes)
    out: bytes = generate_latest(registry)  # type: ignore[no-untyped-call]  # untyped upstream
    return out


def write_openmetrics(result: ResultLike, path: Path, max_lag_bytes: float | None) -> Path:
    """Write the run's metrics to ``path`` as OpenMetrics text; return ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(render_openmetrics(result, max_lag_bytes))
    tmp.replace(path)
    return path


def write_run_metrics(run_dir: Path, result: ResultLike) -> Path:
    """``write_openmetrics`` into ``run_dir/METRICS``, with the maximum lag taken from the
    run's observations.jsonl (left out when there is none)."""
    lag = max_lag_bytes(read_observations(Path(run_dir) / OBSERVATIONS))
    return write_openmetrics(result, Path(run_dir) / METRICS, lag)


def push(
    result: ResultLike,
    gateway_url: str,
    job: str = "rpochaos",
    *,
    max_lag_bytes: float | None = None,
    grouping_key: dict[str, str] | None = None,
    timeout_s: float = 10.0,
) -> None:
    """Push the run's metrics to a Prometheus Pushgateway (``host:port`` or a URL), replacing
    the group ``job`` + ``grouping_key`` (default: ``{"scenario": <name>}``). Raises
    ``OSError`` (``urllib.error.URLError``) when the gateway cannot be reached or refuses."""
    r = as_result(result)
    key = grouping_key if grouping_key is not None else {"scenario": str(r.scenario)}
    push_to_gateway(
        gateway_url,
        job=job,
        registry=build_registry(r, max_lag_bytes),
        grouping_key=key,
        timeout=timeout_s,
    )
