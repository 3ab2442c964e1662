"""The shipped Patroni scenarios on the docker backend through the CLI (exit codes, loss, the
window against the cut-to-crash time, the declared Patroni settings in the result), and an
interrupted docker Patroni run leaving no container, volume or network behind.

Patroni, etcd and PostgreSQL run in containers of the local ``rpochaos/patroni`` image
(built on first use); under CI=true a missing engine fails these tests instead of skipping."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rpochaos.backends import engine
from rpochaos.backends.docker import LABEL_RUN_DIR
from rpochaos.images import resolve_patroni_image
from tests.helpers import ROOT, SCENARIOS, require
from tests.integration.helpers import RPOCHAOS, cli, result_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def docker_patroni() -> Iterator[Any]:
    c = require(engine.client)
    require(lambda: resolve_patroni_image(client=c))
    yield c
    c.close()


def _run(name: str, out: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    scenario = str(SCENARIOS / f"{name}.yaml")
    proc = cli("run", scenario, "--backend", "docker", "--out", str(out), timeout=200)
    assert (out / "result.json").exists(), proc.stdout + proc.stderr
    r = result_of(out)
    assert r["backend"] == "docker"
    return proc, r


def _left(c: Any, out: Path) -> list[str]:
    flt = {"label": f"{LABEL_RUN_DIR}={out}"}
    return [
        *(f"container {x.name}" for x in c.containers.list(all=True, filters=flt)),
        *(f"volume {v.name}" for v in c.volumes.list(filters=flt)),
        *(f"network {n.name}" for n in c.networks.list(filters=flt)),
    ]


def test_async_host_crash_loses_the_cut_to_crash_window(
    docker_patroni: Any, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    proc, r = _run("patroni-async-host-crash", out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert r["writes"]["lost"] > 0
    window = r["data_loss_window_s"]  # replication cut at 3 s, the leader's host dies at 5 s
    assert abs(window - 2.0) <= max(0.25, 0.1 * 2.0), window
    assert r["failover"]["promoted"] == "replica1"
    assert r["failover"]["final_read_node"] == "replica1"
    d = r["durability"]
    assert (d["patroni.ttl"], d["patroni.synchronous_mode"]) == (20, "off")
    assert d["patroni.maximum_lag_on_failover"] == 16 * 1024 * 1024
    assert "leadership (Patroni):" in proc.stdout
    assert _left(docker_patroni, out) == []
    # primary never comes back during the run: the witness reads its disk at teardown
    w = r["witness"]
    assert (w["status"], w["node"], w["read_from"]) == ("ok", "primary", "at_teardown"), w
    assert (w["on_old_primary"], w["gone"]) == (r["writes"]["lost"], 0), w


def test_max_lag_refuses_the_failover_and_loses_nothing(
    docker_patroni: Any, tmp_path: Path
) -> None:
    proc, r = _run("patroni-async-max-lag-refuses", tmp_path / "run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert r["writes"]["lost"] == 0
    assert r["failover"]["refused"] is True
    assert "maximum replication lag" in r["failover"]["reason"]
    assert r["failover"]["final_read_node"] == "primary"
    assert r["durability"]["patroni.maximum_lag_on_failover"] == 32 * 1024


def test_sync_mode_strict_loses_nothing(docker_patroni: Any, tmp_path: Path) -> None:
    proc, r = _run("patroni-sync-mode-strict", tmp_path / "run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert r["writes"]["lost"] == 0
    assert r["failover"]["promoted"] == "replica1"
    assert r["durability"]["patroni.synchronous_mode"] == "strict"


def test_an_isolated_leader_of_a_three_member_etcd_acknowledges_until_it_demotes(
    docker_patroni: Any, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    proc, r = _run("patroni-isolated-leader", out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert r["writes"]["lost"] > 0
    assert r["durability"]["dcs.etcd_members"] == 3
    etcd_logs = sorted(p.name for p in (out / "logs").glob("etcd*.log"))
    assert etcd_logs == ["etcd1.log", "etcd2.log", "etcd3.log"], etcd_logs  # 3 ran
    demoted, taken = r["leader_changes"]
    assert (demoted["from_node"], demoted["to_node"]) == ("primary", None), r["leader_changes"]
    assert (taken["from_node"], taken["to_node"]) == (None, "replica1"), r["leader_changes"]
    acks_ended = r["outage_at_s"] + r["data_loss_window_s"]
    assert abs(demoted["t_s"] - acks_ended) < 0.5, (demoted, acks_ended)
    assert r["failover"]["final_read_node"] == "replica1"
    assert _left(docker_patroni, out) == []


def test_sigint_mid_fault_leaves_no_container(docker_patroni: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            *RPOCHAOS, "run", str(SCENARIOS / "patroni-async-host-crash.yaml"),
            "--backend", "docker", "--out", str(out),
        ],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        events = out / "events.jsonl"
        if events.exists() and '"action":"crash"' in events.read_text():
            break
        time.sleep(0.05)
    else:
        pytest.fail("the crash never started")
    during = _left(docker_patroni, out)
    names = [x.split(" ", 1)[1] for x in during if x.startswith("container ")]
    assert any(n.endswith("-etcd") for n in names), during
    assert any(n.endswith("-replica1") for n in names), during
    prefix = names[0].split("-")[0] + "-" + names[0].split("-")[1]  # rpochaos-<run id>
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 130, stdout + stderr
    assert _left(docker_patroni, out) == []
    # by name too: a container that lost its labels would escape the label filter
    assert docker_patroni.containers.list(all=True, filters={"name": prefix}) == []
    assert json.loads((out / "result.json").read_text())["verdict"] == "UNKNOWN"
