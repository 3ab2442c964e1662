"""Metrics: one OpenMetrics text file per run, and an optional push to a Pushgateway.

Built with the standard Prometheus client library (``prometheus_client``): a private
``CollectorRegistry`` per call, rendered with
``prometheus_client.openmetrics.exposition.generate_latest`` or pushed with
``prometheus_client.push_to_gateway``. Every sample carries the label ``scenario``.

========================================  ===========  ==========================================
metric                                    type         value (from result.json)
========================================  ===========  ==========================================
rpochaos_lost_writes                      gauge        writes.lost
rpochaos_acknowledged_writes              gauge        writes.acknowledged
rpochaos_attempted_writes                 gauge        writes.attempted
rpochaos_recovered_writes                 gauge        writes.recovered
rpochaos_phantom_writes                   gauge        writes.phantom
rpochaos_unexpected_writes                gauge        writes.unexpected
rpochaos_data_loss_window_seconds         gauge        data_loss_window_s (absent when null)
rpochaos_rpo_declared_seconds             gauge        rpo_declared_s
rpochaos_rto_seconds                      gauge        rto_s (absent when null)
rpochaos_max_replication_lag_bytes        gauge        the observer's largest lag_bytes (absent
                                                       when nothing was observed)
rpochaos_verdict                          stateset     1 for the verdict, 0 for the other two
rpochaos_run                              info         seed, backend
========================================  ===========  ==========================================

A value that result.json has as null is left out rather than written as NaN, so a dashboard
never mistakes "unknown" for a number. These are gauges, not counters: each run is a fresh
measurement, not a running total.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Enum, Gauge, Info, push_to_gateway
from prometheus_client.openmetrics.exposition import generate_latest

from rpochaos.observe.postgres import OBSERVATIONS, max_lag_bytes, read_observations

#: the file name in the run directory
METRICS = "metrics.openmetrics.txt"
VERDICTS = ("PASS", "FAIL", "UNKNOWN")

_COUNTS = (
    ("rpochaos_lost_writes", "lost", "Acknowledged writes missing after recovery."),
    ("rpochaos_acknowledged_writes", "acknowledged", "Writes the system acknowledged."),
    ("rpochaos_attempted_writes", "attempted", "Writes the workload attempted."),
    ("rpochaos_recovered_writes", "recovered", "Writes of unknown/failed outcome present."),
    ("rpochaos_phantom_writes", "phantom", "Writes that failed yet are present."),
    ("rpochaos_unexpected_writes", "unexpected", "Present values no write produced."),
)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def build_registry(result: dict[str, Any], max_lag_bytes: float | None) -> CollectorRegistry:
    """A fresh registry holding one run's metrics."""
    reg = CollectorRegistry(auto_describe=True)
    scenario = str(result.get("scenario") or "unknown")
    writes = result.get("writes") or {}
    for name, key, doc in _COUNTS:
        g = Gauge(name, doc, ["scenario"], registry=reg)
        v = _number(writes.get(key))
        if v is not None:
            g.labels(scenario=scenario).set(v)
    seconds = (
        (
            "rpochaos_data_loss_window_seconds",
            "data_loss_window_s",
            "Outage time minus recovery point (harness clock).",
        ),
        ("rpochaos_rpo_declared_seconds", "rpo_declared_s", "The declared RPO."),
        (
            "rpochaos_rto_seconds",
            "rto_s",
            "Outage to the first acknowledged write on the new primary.",
        ),
    )
    for name, key, doc in seconds:
        g = Gauge(name, doc, ["scenario"], unit="seconds", registry=reg)
        v = _number(result.get(key))
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
    state = str(result.get("verdict") or "UNKNOWN")
    verdict.labels(scenario=scenario).state(state if state in VERDICTS else "UNKNOWN")
    info = Info("rpochaos_run", "The run's seed and backend.", ["scenario"], registry=reg)
    info.labels(scenario=scenario).info(
        {"seed": str(result.get("seed")), "backend": str(result.get("backend"))}
    )
    return reg


def render_openmetrics(result: dict[str, Any], max_lag_bytes: float | None) -> bytes:
    """The OpenMetrics text exposition (ends with ``# EOF``)."""
    registry = build_registry(result, max_lag_bytes)
    out: bytes = generate_latest(registry)  # type: ignore[no-untyped-call]  # untyped upstream
    return out


def write_openmetrics(result: dict[str, Any], path: Path, max_lag_bytes: float | None) -> Path:
    """Write the run's metrics to ``path`` as OpenMetrics text; return ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(render_openmetrics(result, max_lag_bytes))
    tmp.replace(path)
    return path


def write_run_metrics(run_dir: Path, result: dict[str, Any]) -> Path:
    """``write_openmetrics`` into ``run_dir/METRICS``, with the maximum lag taken from the
    run's observations.jsonl (left out when there is none)."""
    lag = max_lag_bytes(read_observations(Path(run_dir) / OBSERVATIONS))
    return write_openmetrics(result, Path(run_dir) / METRICS, lag)


def push(
    result: dict[str, Any],
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
    key = grouping_key if grouping_key is not None else {"scenario": str(result.get("scenario"))}
    push_to_gateway(
        gateway_url,
        job=job,
        registry=build_registry(result, max_lag_bytes),
        grouping_key=key,
        timeout=timeout_s,
    )
