"""The OpenMetrics file parses with the Prometheus client's own parser and equals result.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from rpochaos.report.metrics import (
    METRICS,
    VERDICTS,
    render_openmetrics,
    write_openmetrics,
    write_run_metrics,
)
from rpochaos.store import RESULT
from tests.unit.run_dirs import make_run_dir

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> tuple[dict[str, Any], Samples]:
    parsed = text_string_to_metric_families(text)  # type: ignore[no-untyped-call]
    families = {f.name: f for f in parsed}
    samples: Samples = {}
    for f in families.values():
        for s in f.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return families, samples


def value(samples: Samples, name: str, scenario: str, **extra: str) -> float | None:
    return samples.get((name, tuple(sorted({"scenario": scenario, **extra}.items()))))


@pytest.fixture
def result(tmp_path: Path) -> dict[str, Any]:
    d = tmp_path / "run"
    make_run_dir(d)
    loaded: dict[str, Any] = json.loads((d / RESULT).read_text())
    return loaded


def test_openmetrics_file_parses_and_equals_result_json(
    result: dict[str, Any], tmp_path: Path
) -> None:
    path = write_openmetrics(result, tmp_path / "m.txt", max_lag_bytes=160_000)
    text = path.read_text()
    assert text.endswith("# EOF\n")
    families, samples = parse(text)
    sc = result["scenario"]
    w = result["writes"]
    assert value(samples, "rpochaos_lost_writes", sc) == w["lost"] == 200
    assert value(samples, "rpochaos_acknowledged_writes", sc) == w["acknowledged"]
    assert value(samples, "rpochaos_attempted_writes", sc) == w["attempted"]
    assert value(samples, "rpochaos_recovered_writes", sc) == w["recovered"]
    assert value(samples, "rpochaos_phantom_writes", sc) == w["phantom"]
    assert value(samples, "rpochaos_unexpected_writes", sc) == w["unexpected"]
    assert value(samples, "rpochaos_data_loss_window_seconds", sc) == result["data_loss_window_s"]
    assert value(samples, "rpochaos_rpo_declared_seconds", sc) == result["rpo_declared_s"]
    assert value(samples, "rpochaos_rto_seconds", sc) == result["rto_s"]
    assert value(samples, "rpochaos_max_replication_lag_bytes", sc) == 160_000
    for v in VERDICTS:
        got = value(samples, "rpochaos_verdict", sc, rpochaos_verdict=v)
        assert got == (1.0 if v == result["verdict"] == "FAIL" else 0.0), v
    assert families["rpochaos_verdict"].type == "stateset"
    assert families["rpochaos_data_loss_window_seconds"].unit == "seconds"
    assert families["rpochaos_max_replication_lag_bytes"].unit == "bytes"
    assert value(samples, "rpochaos_run_info", sc, seed="7", backend="local") == 1.0
    # every sample is labelled with the scenario
    assert all(dict(labels).get("scenario") == sc for (_, labels) in samples)


def test_nulls_are_left_out_not_written_as_nan(tmp_path: Path) -> None:
    d = tmp_path / "run"
    r = make_run_dir(d, final_read=False)
    assert r["verdict"] == "UNKNOWN" and r["data_loss_window_s"] is None
    families, samples = parse(render_openmetrics(r, None).decode())
    sc = r["scenario"]
    for name in (
        "rpochaos_data_loss_window_seconds",
        "rpochaos_rto_seconds",
        "rpochaos_max_replication_lag_bytes",
    ):
        assert name in families and not families[name].samples, name
    assert value(samples, "rpochaos_verdict", sc, rpochaos_verdict="UNKNOWN") == 1.0
    assert value(samples, "rpochaos_verdict", sc, rpochaos_verdict="PASS") == 0.0
    assert value(samples, "rpochaos_rpo_declared_seconds", sc) == 1.0


def test_run_metrics_take_the_max_lag_from_the_observations(tmp_path: Path) -> None:
    d = tmp_path / "run"
    r = make_run_dir(d)
    path = write_run_metrics(d, r)
    assert path == d / METRICS
    _, samples = parse(path.read_text())
    # the literal observations grow 80 000 bytes/s from 2 s; the last sample before the crash
    # at 4 s is at 3.9 s
    lag = value(samples, "rpochaos_max_replication_lag_bytes", r["scenario"])
    assert lag == pytest.approx(1.9 * 80_000, abs=2)
    d2 = tmp_path / "run2"
    r2 = make_run_dir(d2, observations=False)
    _, samples2 = parse(write_run_metrics(d2, r2).read_text())
    assert value(samples2, "rpochaos_max_replication_lag_bytes", r2["scenario"]) is None


def test_label_values_are_escaped(result: dict[str, Any]) -> None:
    r = {**result, "scenario": 'we"ird\\name'}
    _, samples = parse(render_openmetrics(r, None).decode())
    assert value(samples, "rpochaos_lost_writes", 'we"ird\\name') == 200
