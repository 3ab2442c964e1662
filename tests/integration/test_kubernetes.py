"""The kubernetes backend on the project's own single-node cluster (built by
scripts/k8s-setup.sh, brought up once for this module by ``kubernetes_cluster.up``): shipped
PostgreSQL scenarios give their verdicts with the expected windows, ``rpochaos gc`` removes
what a SIGKILLed run left, and no packet from a pod left the machine (the pod bridge's
outbound DROP counters stay at zero). Under CI=true these tests fail, not skip, when the
cluster cannot be brought up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rpochaos.errors import MissingDependency, TopologyError
from tests.helpers import ROOT, SCENARIOS
from tests.integration.helpers import RPOCHAOS, cli, result_of, within

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

IMAGES = ["rpochaos/postgres:15", "rpochaos/toxiproxy:2.12.0"]


def _unavailable(msg: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and the test cluster cannot be had: {msg}", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def kube() -> Iterator[Any]:
    from rpochaos.backends import kubernetes_cluster as kc

    try:
        kc.require_binaries()
        missing = [
            i
            for i in IMAGES
            if subprocess.run(["docker", "image", "inspect", i], capture_output=True).returncode
        ]
        if missing:
            raise MissingDependency(f"the docker images {missing}", "scripts/docker-setup.sh")
        cluster = kc.up(IMAGES, log=lambda _: None)
    except (MissingDependency, TopologyError) as e:
        _unavailable(str(e))
    try:
        yield cluster
    finally:
        kc.down(log=lambda _: None)


def _env(kube: Any) -> dict[str, str]:
    return {"RPOCHAOS_KUBECONFIG": str(kube.kubeconfig)}


def _run(
    kube: Any, name: str, out: Path, *, flags: bool = False
) -> tuple[subprocess.CompletedProcess[str], Any]:
    """Run ``name`` on the test cluster, reached through $RPOCHAOS_KUBECONFIG or (``flags``)
    as docs/kubernetes.md shows: ``--kubeconfig FILE --kube-context NAME``."""
    how = ["--kubeconfig", str(kube.kubeconfig), "--kube-context", "rpochaos-test"]
    proc = cli(
        "run",
        str(SCENARIOS / f"{name}.yaml"),
        "--backend",
        "kubernetes",
        *(how if flags else []),
        "--out",
        str(out),
        "--no-html",
        timeout=240,
        env=None if flags else _env(kube),
    )
    assert (out / "result.json").exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, result_of(out)


def test_async_partition_then_crash_loses_the_partition_window(kube: Any, tmp_path: Path) -> None:
    proc, res = _run(kube, "pg-async-partition-crash", tmp_path / "run", flags=True)
    assert res["backend"] == "kubernetes"
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert res["writes"]["lost"] > 0
    # truth: from the partition at 2 s to the crash, which an exec makes take effect some
    # 0.1-0.4 s after 5 s (the outage time is when it did)
    truth = res["outage_at_s"] - 2.0
    assert within(res["data_loss_window_s"], truth), (res["data_loss_window_s"], truth)


def test_sync_partition_then_crash_loses_nothing(kube: Any, tmp_path: Path) -> None:
    proc, res = _run(kube, "pg-sync-partition-crash", tmp_path / "run")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert res["writes"]["lost"] == 0
    assert res["writes"]["acknowledged"] > 0


def _namespaces(kube: Any, run_label: str | None = None) -> list[str]:
    from rpochaos.backends import kubernetes_api as kapi

    api = kapi.Api.from_env()
    try:
        sel = f"{kapi.LABEL_RUN}={run_label}" if run_label else kapi.LABEL_RUN
        return [n for n, _, _ in api.namespaces(sel)]
    finally:
        api.close()


def test_gc_removes_the_namespace_of_a_run_killed_with_sigkill(
    kube: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RPOCHAOS_KUBECONFIG", str(kube.kubeconfig))
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [*RPOCHAOS, "run", str(SCENARIOS / "pg-async-partition-crash.yaml"), "--backend",
         "kubernetes", "--out", str(out), "--no-html"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # mid-partition: the partition is at 2 s
            events = out / "events.jsonl"
            if events.exists() and '"partition"' in events.read_text():
                break
            time.sleep(0.2)
        else:
            pytest.fail("the run never reached its partition")
        names = _namespaces(kube)
        assert names, "the run's namespace is there while it runs"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert _namespaces(kube) == names  # nothing removed it yet
    gone = cli("gc", str(tmp_path), env=_env(kube))
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert all(n in gone.stdout for n in names), gone.stdout
    assert _namespaces(kube) == []
    from rpochaos.backends import kubernetes_api as kapi

    api = kapi.Api.from_env()
    try:
        deadline = time.monotonic() + 60
        left: list[str] = []
        while time.monotonic() < deadline:
            left = [
                p.metadata.name for n in names for p in api.core.list_namespaced_pod(n).items
            ] + [s.metadata.name for n in names for s in api.core.list_namespaced_service(n).items]
            if not left:
                break
            time.sleep(0.5)
        assert left == []
    finally:
        api.close()


def test_no_packet_from_a_pod_left_the_machine(kube: Any) -> None:
    """Last in this module: the counters cover every run above. The rule must be there (else
    a zero count proves nothing)."""
    rules = subprocess.run(
        ["iptables", "-t", "mangle", "-S", "FORWARD"], capture_output=True, text=True, check=True
    ).stdout
    assert "-i cni0 ! -o cni0" in rules and "DROP" in rules, rules
    assert kube.dropped() == 0, json.dumps(rules)
