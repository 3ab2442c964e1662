"""The shipped Patroni scenarios through the CLI (exit codes, loss, the window against the
cut-to-crash time, Patroni's leadership record), and an interrupted or killed Patroni run
leaving no Patroni, etcd, PostgreSQL or Toxiproxy process behind.

Each scenario runs once per session (the ``shipped`` fixture; ``test_plugin`` reuses those
runs to compare the pytest plugin's outcomes with the CLI's)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from rpochaos.backends.local import leftovers
from rpochaos.patroni import deps as patroni_deps
from rpochaos.procs import postmasters_under
from rpochaos.result import Result
from rpochaos.witness.classify import from_ranges
from tests.helpers import ROOT, SCENARIOS, require
from tests.integration.helpers import RPOCHAOS, cli, result_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def patroni(real_pg: None) -> None:
    require(patroni_deps.patroni)
    require(patroni_deps.etcd)


def _leaders(result: dict[str, Any]) -> list[str | None]:
    return [c["to_node"] for c in result["leader_changes"]]


def test_async_host_crash_loses_the_cut_to_crash_window(patroni: None, shipped: Any) -> None:
    proc, out = shipped("patroni-async-host-crash")
    r = result_of(out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert r["verdict"] == "FAIL"
    assert r["writes"]["lost"] > 0
    # replication cut at 3 s, the leader's host dies at 5 s
    window = r["data_loss_window_s"]
    assert abs(window - 2.0) <= max(0.25, 0.1 * 2.0), window
    assert r["failover"]["promoted"] == "replica1"
    assert r["failover"]["final_read_node"] == "replica1"
    assert _leaders(r)[-1] == "replica1"
    promoted = [c for c in r["leader_changes"] if c["to_node"] == "replica1"][-1]
    assert promoted["timeline"] == 2
    # the leader key outlives the crash by about ttl (20 s)
    assert 15.0 < promoted["t_s"] - r["outage_at_s"] < 30.0, promoted
    assert r["rto_s"] is not None and 15.0 < r["rto_s"] < 30.0
    assert r["durability"]["patroni.ttl"] == 20
    assert r["durability"]["patroni.synchronous_mode"] == "off"
    assert "leadership (Patroni):" in proc.stdout
    # primary never comes back during the run: the witness reads its disk at teardown
    w = r["witness"]
    assert (w["status"], w["node"], w["read_from"]) == ("ok", "primary", "at_teardown"), w
    assert (w["on_old_primary"], w["gone"]) == (r["writes"]["lost"], 0), w


def test_max_lag_refuses_the_failover_and_loses_nothing(patroni: None, shipped: Any) -> None:
    proc, out = shipped("patroni-async-max-lag-refuses")
    r = result_of(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert r["verdict"] == "PASS"
    assert r["writes"]["lost"] == 0
    assert r["failover"]["refused"] is True
    assert "maximum replication lag" in r["failover"]["reason"]
    assert r["failover"]["promoted"] is None
    assert r["failover"]["final_read_node"] == "primary"
    assert "replica1" not in _leaders(r)
    # the outage lasts until the old leader is back (restarted 22 s after the crash)
    assert r["rto_s"] is not None and r["rto_s"] > 22.0
    assert r["durability"]["patroni.maximum_lag_on_failover"] == 32 * 1024


def test_sync_mode_strict_loses_nothing(patroni: None, shipped: Any) -> None:
    proc, out = shipped("patroni-sync-mode-strict")
    r = result_of(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert r["verdict"] == "PASS"
    assert r["writes"]["lost"] == 0
    assert r["failover"]["promoted"] == "replica1"
    assert r["durability"]["patroni.synchronous_mode"] == "strict"


def test_sync_mode_on_falls_back_and_patroni_then_refuses_the_stale_standby(
    patroni: None, shipped: Any
) -> None:
    proc, out = shipped("patroni-sync-mode-falls-back")
    r = result_of(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert r["writes"]["lost"] == 0
    # Patroni emptied the synchronous list after the cut (3 s), before the crash (5 s) ...
    log = r["patroni_log"]
    emptied = [c for c in log["sync_standbys"] if c["to"] == []]
    assert emptied and emptied[0]["node"] == "primary", log
    assert 3.0 < emptied[0]["t_s"] < r["outage_at_s"], (emptied, r["outage_at_s"])
    # ... and the leader acknowledged alone from then on, until its host died
    alone = log["acked_without_sync_standby"]
    assert alone > 50, log
    assert emptied[0]["t_s"] <= log["acked_without_sync_standby_from_s"] < r["outage_at_s"]
    # replica1 was no longer a synchronous standby: never promoted, the old leader led again
    assert r["failover"]["promoted"] is None
    assert "replica1" not in _leaders(r)
    assert r["failover"]["final_read_node"] == "primary"
    assert r["rto_s"] is not None and r["rto_s"] > 21.0  # the crash lasted 21 s
    assert "writes acknowledged with no synchronous standby" in proc.stdout
    assert r["durability"]["patroni.synchronous_mode"] == "on"


def test_the_rejoining_old_leader_rewinds_what_it_alone_held(patroni: None, shipped: Any) -> None:
    proc, out = shipped("patroni-rewind-erases")
    r = result_of(out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert r["writes"]["lost"] > 0
    assert abs(r["data_loss_window_s"] - 2.0) <= max(0.25, 0.1 * 2.0), r["data_loss_window_s"]
    assert r["failover"]["promoted"] == "replica1"
    promoted = [c for c in r["leader_changes"] if c["to_node"] == "replica1"][-1]
    # the old primary's host is back at 29 s, after replica1 took over: it rewinds
    rewinds = r["patroni_log"]["rewinds"]
    assert [(w["node"], w["exit_code"]) for w in rewinds] == [("primary", 0)], rewinds
    assert promoted["t_s"] < 29.0 < rewinds[0]["t_s"] < 45.0, (promoted, rewinds)
    assert "pg_rewind: primary at" in proc.stdout
    assert "lost writes were lost at the failover" in proc.stdout
    assert r["patroni_log"]["acked_without_sync_standby"] is None  # async: not counted
    # the witness read the copy of primary's disk taken before its Patroni started again
    # (the rewind then erased them): every lost write was on it, none is gone
    lost = r["writes"]["lost"]
    w = r["witness"]
    assert (w["status"], w["node"], w["read_from"]) == ("ok", "primary", "before_rejoin"), w
    assert (w["on_old_primary"], w["gone"]) == (lost, 0), w
    lost_seqs = frozenset(Result.load(out).seqs("lost", out))
    assert from_ranges(w["on_old_primary_seqs"]) == lost_seqs, w
    assert w["waldump_commits"] == lost + w["in_flight_present"], w
    # the copy delayed the rejoin by well under a second (no reflink on ext4: a real copy)
    assert w["snapshot_s"] is not None and w["snapshot_s"] < 3.0, w
    rewind_line = (
        f"pg_rewind on primary at {rewinds[0]['t_s']:.3f} s erased {lost} acknowledged writes "
        "that were on its disk"
    )
    assert rewind_line in proc.stdout, proc.stdout
    assert rewind_line in (out / "report.html").read_text(encoding="utf-8")


def test_an_isolated_leader_acknowledges_until_it_demotes(patroni: None, shipped: Any) -> None:
    proc, out = shipped("patroni-isolated-leader")
    r = result_of(out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert r["writes"]["lost"] > 0
    assert r["durability"]["dcs.etcd_members"] == 3  # cut off from all three members
    etcd_logs = sorted(p.name for p in (out / "logs").glob("etcd*.log"))
    assert etcd_logs == ["etcd1.log", "etcd2.log", "etcd3.log"], etcd_logs
    # cut off from etcd at 3 s: it acknowledges until its HA loop gives up (retry_timeout
    # 5 s, the blackholed calls hang on their timeouts), never past the new leader's key
    promoted = [c for c in r["leader_changes"] if c["to_node"] == "replica1"][-1]
    assert 3.0 < r["data_loss_window_s"] < promoted["t_s"] - r["outage_at_s"], r
    assert r["failover"]["promoted"] == "replica1"
    assert r["failover"]["final_read_node"] == "replica1"
    # both leadership events, with times: the old leader demoting itself (it still holds the
    # key: GET /patroni says it stopped), which is where its acknowledgements ended, then
    # replica1 taking the key once it expired
    demoted, taken = r["leader_changes"]
    assert (demoted["from_node"], demoted["to_node"]) == ("primary", None), r["leader_changes"]
    assert (taken["from_node"], taken["to_node"]) == (None, "replica1"), r["leader_changes"]
    acks_ended = r["outage_at_s"] + r["data_loss_window_s"]
    assert abs(demoted["t_s"] - acks_ended) < 0.5, (demoted, acks_ended)
    assert demoted["t_s"] < taken["t_s"]
    # never crashed, not rewound within the run: the witness reads the demoted leader's disk
    # at teardown (Patroni had made it a standby: its recovery settings are stripped)
    w = r["witness"]
    assert (w["status"], w["node"], w["read_from"]) == ("ok", "primary", "at_teardown"), w
    assert (w["on_old_primary"], w["gone"]) == (r["writes"]["lost"], 0), w


def test_the_plugin_collects_the_patroni_scenarios_by_glob(pytester: pytest.Pytester) -> None:
    res = pytester.runpytest_subprocess(
        "--rpo-scenario", str(SCENARIOS / "patroni-*.yaml"), "--collect-only", "-q"
    )
    assert "6 tests collected" in res.stdout.str(), res.stdout.str()


# -- interrupted and killed runs -----------------------------------------------------------


def _start(out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*RPOCHAOS, "run", str(SCENARIOS / "patroni-async-host-crash.yaml"), "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(out: Path, proc: subprocess.Popen[str], action: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        events = out / "events.jsonl"
        if events.exists() and f'"action":"{action}"' in events.read_text():
            return
        time.sleep(0.05)
    pytest.fail(f"the {action} never started")


def _processes_under(out: Path) -> list[str]:
    """Live processes whose command line names the run dir or its data (Patroni, etcd,
    PostgreSQL all do), plus Toxiproxy and every server pids.json lists."""
    texts = {str(out)}
    data = out / "data"
    if data.is_symlink():
        texts.add(str(data.resolve()))
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(t in cmd for t in texts):
            found.append(f"{d.name}: {cmd}")
    return found + [f"{k} {v}" for k, v in leftovers(out).items()]


def test_sigint_mid_fault_leaves_no_process(patroni: None, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for(out, proc, "crash")  # the replication link is cut and the leader is dead
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 130, stdout + stderr
    assert _processes_under(out) == []
    assert json.loads((out / "result.json").read_text())["verdict"] == "UNKNOWN"


def test_gc_kills_the_detached_postmasters_of_a_killed_run(patroni: None, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for(out, proc, "partition")
    proc.kill()  # SIGKILL: Patroni dies with the harness, its postmasters do not
    proc.communicate(timeout=10)
    data = (out / "data").resolve()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not postmasters_under(data):
        time.sleep(0.1)
    assert postmasters_under(data), "expected the detached postmasters to outlive the harness"
    g = cli("gc", str(tmp_path))
    assert g.returncode == 0, g.stderr
    assert "detached postmaster" in g.stdout, g.stdout
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _processes_under(out):
        time.sleep(0.1)
    assert _processes_under(out) == []
