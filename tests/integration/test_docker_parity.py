"""Every shipped PostgreSQL and Kafka scenario on the docker backend: the same verdict as on
local, comparable windows; and a SIGKILLed docker run cleaned up by ``rpochaos gc``."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from rpochaos.backends import engine
from rpochaos.scenario import load
from tests.helpers import ROOT, SCENARIOS, require
from tests.integration.helpers import RPOCHAOS, cli, result_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PG_SCENARIOS = sorted(p.stem for p in SCENARIOS.glob("pg-*.yaml"))
KAFKA_SCENARIOS = sorted(p.stem for p in SCENARIOS.glob("kafka-*.yaml"))


@pytest.fixture(scope="module")
def docker_engine() -> Any:
    c = require(engine.client)
    yield c
    c.close()


@pytest.mark.parametrize("name", PG_SCENARIOS + KAFKA_SCENARIOS)
def test_docker_gives_the_local_verdict(
    name: str, docker_engine: Any, shipped: Any, tmp_path: Path
) -> None:
    _, local_out = shipped(name)
    local = result_of(local_out)
    out = tmp_path / "docker"
    proc = cli(
        "run",
        str(SCENARIOS / f"{name}.yaml"),
        "--backend",
        "docker",
        "--out",
        str(out),
        timeout=280,
    )
    assert (out / "result.json").exists(), proc.stdout + proc.stderr
    dock = result_of(out)
    assert dock["backend"] == "docker"
    figures = {
        k: (local[k], dock[k])
        for k in ("verdict", "reasons", "data_loss_window_s", "outage_at_s", "recovery_point_s")
        if k in local and k in dock
    }
    counts = {k: v for k, v in dock["writes"].items() if not isinstance(v, list)}
    assert dock["verdict"] == local["verdict"], (figures, counts, proc.stdout[-3000:])
    assert (dock["writes"]["lost"] > 0) == (local["writes"]["lost"] > 0)
    lw, dw = local["data_loss_window_s"], dock["data_loss_window_s"]
    # a client commit timeout makes the recovery point jump by whole timeouts (the first
    # cancelled-yet-replicated commit moves it), on either backend
    slack = load(SCENARIOS / f"{name}.yaml").workload.commit_timeout or 0.0
    assert abs(lw - dw) <= max(0.35, 0.15 * lw) + slack, (lw, dw)
    if name == "kafka-acks1-leader-cut-then-killed":
        # the witness copies the killed old leader's partition out of its volume and finds
        # every lost message there (the copies are deleted once read)
        w = dock["witness"]
        assert w["status"] == "ok", w
        assert w["gone"] == 0 and w["on_old_primary"] == dock["writes"]["lost"] > 0, w
        assert w["records_past_fork"] is not None and w["records_past_fork"] >= w["on_old_primary"]


def _labelled(client: Any) -> list[str]:
    flt = {"label": "rpochaos.run"}
    return [
        *(f"container {c.name}" for c in client.containers.list(all=True, filters=flt)),
        *(f"network {n.name}" for n in client.networks.list(filters=flt)),
        *(f"volume {v.name}" for v in client.volumes.list(filters=flt)),
    ]


def test_sigkill_of_a_docker_run_then_gc_leaves_nothing(docker_engine: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            *RPOCHAOS,
            "run",
            str(SCENARIOS / "pg-async-partition-crash.yaml"),
            "--backend",
            "docker",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ev = out / "events.jsonl"
        if ev.exists() and '"action":"partition"' in ev.read_text():
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    else:
        pytest.fail("the partition never started")
    assert _labelled(docker_engine), "the run had nothing labelled"
    proc.kill()
    proc.communicate(timeout=10)
    g = cli("gc", str(tmp_path), timeout=120)
    assert g.returncode == 0, g.stdout + g.stderr
    assert _labelled(docker_engine) == []
    a = cli("analyze", str(out), "--json")
    assert a.returncode == 2 and json.loads(a.stdout)["verdict"] == "UNKNOWN"
