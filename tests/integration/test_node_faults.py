"""Node-level faults and the failover policy against real PostgreSQL, through the runner.

Each test would fail if its fault did nothing: the evidence is the journal (when commits
returned) and the observer's samples (what the servers reported), on the harness clock.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from rpochaos.history import Outcome
from rpochaos.history_read import read_history
from rpochaos.observe.postgres import OBSERVATIONS, read_observations
from rpochaos.run import run
from rpochaos.scenario import loads
from tests.helpers import ROOT
from tests.integration.helpers import RPOCHAOS, result_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _scenario(replicas: str, schedule: str, duration: str = "6s", extra: str = "") -> str:
    return f"""
system: postgres
topology:
  synchronous_commit: "on"
  replicas: {replicas}
workload: {{rate: 200/s, concurrency: 2, duration: {duration}, connect_timeout: 1s}}
schedule:
{schedule}
expect: {{rpo: 10s{extra}}}
"""


def _acks_between(out: Path, a: float, b: float) -> list[Any]:
    return [
        o
        for o in read_history(out / "history.jsonl")
        if o.outcome is Outcome.OK and o.complete_s is not None and a < o.complete_s < b
    ]


def test_io_stall_on_the_primary_holds_commits_until_it_ends(real_pg: None, tmp_path: Path) -> None:
    sc = loads(
        _scenario(
            "[]",
            """
  - {at: 1s, io_stall: primary, for: 2s}
  - {at: 4500ms, restart: primary, outage: true}
""",
        )
    )
    res = run(sc, out=tmp_path / "r")
    out = res.run_dir
    assert _acks_between(out, 1.1, 2.95) == [], "a commit returned during the IO stall"
    assert _acks_between(out, 0.2, 0.95), "no commits before the stall"
    # a write invoked once the stall took effect (not merely when it was asked for: a write
    # paced for t=1.0 may commit in the ~1 ms between the two) returns only after it ends
    stall = next(f for f in res.result["faults"] if f["kind"] == "io_stall")
    effective = stall["effective_start_s"]
    assert effective is not None and 1.0 <= effective < 1.5, stall
    late = [
        o
        for o in read_history(out / "history.jsonl")
        if o.outcome is Outcome.OK and effective <= o.invoke_s < 2.9
    ]
    assert late and all((o.complete_s or 0) >= 2.95 for o in late)


def test_io_stall_on_a_replica_grows_its_flush_lag(real_pg: None, tmp_path: Path) -> None:
    sc = loads(
        _scenario(
            "[{name: replica1, mode: async}]",
            """
  - {at: 1s, io_stall: replica1, for: 3s}
  - {at: 5s, crash: primary, outage: true}
  - {at: 5500ms, promote: replica1}
""",
        )
    )
    res = run(sc, out=tmp_path / "r")
    samples = read_observations(res.run_dir / OBSERVATIONS)

    def lag(a: float, b: float) -> list[int]:
        return [
            r["lag_bytes"]
            for s in samples
            if a < s["t"] < b
            for r in s.get("replicas") or []
            if r.get("lag_bytes") is not None
        ]

    assert max(lag(0.2, 0.9), default=0) < 50_000
    assert max(lag(3.0, 3.95), default=0) > 100_000, "flush lag did not grow during the stall"
    assert (
        max(
            r.get("stalled_s") or 0
            for s in samples
            if 1 < s["t"] < 4
            for r in s.get("replicas") or []
        )
        > 1.5
    )
    # the replica was stalled, not cut off: after the stall it catches up before the crash
    assert result_of(res.run_dir)["writes"]["lost"] < 200


@pytest.mark.parametrize("process", ["walreceiver", None])
def test_pause_of_a_sync_replica_or_its_walreceiver_stalls_commits(
    real_pg: None, tmp_path: Path, process: str | None
) -> None:
    proc_key = f", process: {process}" if process else ""
    sc = loads(
        _scenario(
            "[{name: replica1, mode: sync}]",
            f"""
  - {{at: 1s, pause: replica1, for: 2s{proc_key}}}
  - {{at: 4500ms, crash: primary, outage: true}}
  - {{at: 5s, promote: replica1}}
""",
        )
    )
    res = run(sc, out=tmp_path / "r")
    assert _acks_between(res.run_dir, 1.15, 2.95) == [], "sync commits returned while paused"
    assert _acks_between(res.run_dir, 3.1, 4.4), "commits did not resume after SIGCONT"
    assert result_of(res.run_dir)["writes"]["lost"] == 0


def test_max_lag_guard_refuses_failover_and_nothing_is_lost(real_pg: None, tmp_path: Path) -> None:
    sc = loads(
        _scenario(
            "[{name: replica1, mode: async}]",
            """
  - {at: 1s, partition: replica1->primary, mode: blackhole}
  - {at: 3s, crash: primary, for: 1500ms, outage: true}
  - {at: 3500ms, promote: most_up_to_date, max_lag: 1kB}
""",
            duration="7s",
            extra=", max_lost: 0",
        )
    )
    res = run(sc, out=tmp_path / "r")
    r = res.result
    assert r["failover"]["refused"] is True and r["failover"]["promoted"] is None
    assert "max_lag" in r["failover"]["reason"]
    assert r["failover"]["final_read_node"] == "primary"
    assert r["writes"]["lost"] == 0 and r["verdict"] == "PASS"
    assert r["rto_s"] is not None and r["rto_s"] >= 1.4  # waited for the primary to recover


def test_most_up_to_date_picks_the_replica_that_received_more(
    real_pg: None, tmp_path: Path
) -> None:
    sc = loads(
        _scenario(
            "[{name: replica1, mode: async}, {name: replica2, mode: async}]",
            """
  - {at: 1s, partition: replica1->primary, mode: blackhole}
  - {at: 3s, crash: primary, outage: true}
  - {at: 3500ms, promote: most_up_to_date}
""",
        )
    )
    r = run(sc, out=tmp_path / "r").result
    assert r["failover"]["promoted"] == "replica2"
    assert r["writes"]["lost"] < 50  # replica2 was never cut off


def test_sigint_heals_node_faults(real_pg: None, tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        _scenario(
            "[{name: replica1, mode: async}]",
            """
  - {at: 1s, io_stall: replica1}
  - {at: 1s, pause: replica1, process: startup}
  - {at: 1s, clock_skew: replica1, offset: 20s}
  - {at: 8s, crash: primary, outage: true}
""",
            duration="10s",
        )
    )
    out = tmp_path / "r"
    proc = subprocess.Popen(
        [*RPOCHAOS, "run", str(f), "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ev = out / "events.jsonl"
        if ev.exists() and ev.read_text().count('"type":"step_start"') >= 3:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    events = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    started = {e["index"] for e in events if e["type"] == "step_start"}
    healed = {e["index"] for e in events if e["type"] == "step_end"}
    assert len(started) == 3 and started <= healed
