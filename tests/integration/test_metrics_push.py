"""Push a run's metrics to a real Prometheus Pushgateway (Debian's prometheus-pushgateway) and
read them back from its /metrics. Skips without the binary, fails under CI=true."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rpochaos.report.metrics import VERDICTS, push
from tests.unit.run_dirs import make_run_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

HOST = "127.0.0.1"
APT = "apt-get install -y prometheus-pushgateway"


def _binary() -> str:
    found = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")
    if found is None:
        msg = f"Prometheus Pushgateway not installed (Debian: {APT})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and a dependency is missing: {msg}", pytrace=False)
        pytest.skip(msg)
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[str]:
    binary = _binary()
    port = _free_port()
    log = (tmp_path / "pushgateway.log").open("wb")
    proc = subprocess.Popen(
        [binary, f"--web.listen-address={HOST}:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, (tmp_path / "pushgateway.log").read_text()
            try:
                if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "pushgateway did not become ready in 15 s"
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _scrape(url: str, job: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics", timeout=5.0).text
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.labels.get("job") == job:
                labels = {k: v for k, v in s.labels.items() if k not in ("job", "instance")}
                out[(s.name, tuple(sorted(labels.items())))] = s.value
    return out


def test_push_to_a_real_pushgateway_and_read_back(gateway: str, tmp_path: Path) -> None:
    result: dict[str, Any] = make_run_dir(tmp_path / "run")
    sc = result["scenario"]
    push(result, gateway, job="rpochaos-test", max_lag_bytes=12345)
    got = _scrape(gateway, "rpochaos-test")

    def v(name: str, **extra: str) -> float | None:
        return got.get((name, tuple(sorted({"scenario": sc, **extra}.items()))))

    w = result["writes"]
    assert v("rpochaos_lost_writes") == w["lost"]
    assert v("rpochaos_acknowledged_writes") == w["acknowledged"]
    assert v("rpochaos_data_loss_window_seconds") == result["data_loss_window_s"]
    assert v("rpochaos_rpo_declared_seconds") == result["rpo_declared_s"]
    assert v("rpochaos_rto_seconds") == result["rto_s"]
    assert v("rpochaos_max_replication_lag_bytes") == 12345
    for verdict in VERDICTS:
        assert v("rpochaos_verdict", rpochaos_verdict=verdict) == (
            1.0 if verdict == result["verdict"] else 0.0
        )
    # the gateway stamps the push
    assert any(name == "push_time_seconds" for name, _ in got)

    # a second push of the same group replaces it (PUT semantics)
    again = {**result, "writes": {**w, "lost": 0}, "verdict": "PASS"}
    push(again, gateway, job="rpochaos-test")
    got = _scrape(gateway, "rpochaos-test")
    assert v("rpochaos_lost_writes") == 0
    assert v("rpochaos_verdict", rpochaos_verdict="PASS") == 1.0
    assert v("rpochaos_max_replication_lag_bytes") is None


def test_push_to_nothing_raises_quickly(tmp_path: Path) -> None:
    result = make_run_dir(tmp_path / "run")
    t0 = time.monotonic()
    with pytest.raises(OSError):
        push(result, f"http://{HOST}:{_free_port()}", job="x", timeout_s=2.0)
    assert time.monotonic() - t0 < 5
