"""A dependency that dies outside the schedule stops the run: the Toxiproxy server or a
node's postgres killed mid-run -> exit 2, UNKNOWN naming what died and when, the summary
printed, noticed within 1 s of the kill (kill -> the ``dependency_lost`` event)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, SCENARIOS
from tests.integration.helpers import RPOCHAOS, result_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _start(out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *RPOCHAOS,
            "run",
            str(SCENARIOS / "pg-async-partition-crash.yaml"),
            "--out",
            str(out),
            "--plain",
            "--no-html",
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _events(out: Path) -> list[dict[str, Any]]:
    p = out / "events.jsonl"
    if not p.exists():
        return []
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def _wait_event(out: Path, proc: subprocess.Popen[str], pred: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(pred(e) for e in _events(out)):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    pytest.fail("the run never got there")


def _kill_and_check(
    out: Path, proc: subprocess.Popen[str], server: str, what: str, pid: int | None = None
) -> None:
    if pid is None:
        pid = int(json.loads((out / "pids.json").read_text())["servers"][server]["pid"])
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, stdout + stderr
    assert "Traceback" not in stdout + stderr
    assert "UNKNOWN" in stdout and "pg-async-partition-crash" in stdout  # the summary
    events = _events(out)
    wall0 = next(e["wall"] for e in events if e.get("name") == "workload_start")
    (lost,) = [e for e in events if e["type"] == "dependency_lost"]
    assert lost["what"] == what, lost
    noticed = wall0 + lost["t"] - killed_at
    assert noticed <= 1.0, f"noticed {noticed:.3f} s after the kill"
    result = result_of(out)
    assert result["verdict"] == "UNKNOWN"
    named = [r for r in result["reasons"] if f"{what} died unexpectedly at t=" in r]
    assert named, result["reasons"]
    assert f"t={lost['t']:.2f}s" in named[0]
    assert not (out / "final_read.json").exists()  # never a verdict from a broken run
    print(f"{what}: noticed {noticed * 1000:.0f} ms after the kill")


def test_toxiproxy_killed_mid_run_stops_it_unknown_exit_2(real_pg: None, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _start(out)
    _wait_event(out, proc, lambda e: e.get("action") == "partition")
    _kill_and_check(out, proc, "toxiproxy", "toxiproxy")


def test_a_node_killed_outside_the_schedule_stops_it_unknown_exit_2(
    real_pg: None, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    proc = _start(out)
    _wait_event(out, proc, lambda e: e.get("name") == "workload_start")
    time.sleep(0.5)
    _kill_and_check(out, proc, "replica1", "node replica1")


def test_the_schedules_own_crash_is_not_a_loss(shipped: Any) -> None:
    proc, out = shipped("pg-async-partition-crash")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert not [e for e in _events(out) if e["type"] == "dependency_lost"]


def test_docker_toxiproxy_container_killed_mid_run_stops_it_unknown_exit_2(tmp_path: Path) -> None:
    from rpochaos.backends import engine
    from tests.helpers import require

    client = require(engine.client)
    out = tmp_path / "run"
    proc = _start(out, "--backend", "docker")
    _wait_event(out, proc, lambda e: e.get("action") == "partition", timeout=240)
    rid = json.loads((out / "resolved.json").read_text())["backend_info"]["run_id"]
    container = client.containers.get(f"rpochaos-{rid}-toxiproxy")
    pid = int(container.attrs["State"]["Pid"])  # its PID 1, seen from the host
    _kill_and_check(out, proc, "toxiproxy", "toxiproxy", pid=pid)
    client.close()
