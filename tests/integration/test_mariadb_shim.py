"""The node-fault shim preloaded into a real mariadbd: ``io_stall`` holds the primary's commits
(sync_binlog=1 and innodb_flush_log_at_trx_commit=1 flush on every commit) for as long as it
lasts and loses nothing, on the local and the docker backend; ``clock_skew`` moves the
server's wall clock (``NOW()``) live, on the skewed node only, and its heal puts it back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rpochaos import deps
from rpochaos.backends import engine
from rpochaos.backends.local import LocalBackend
from rpochaos.faults import shim
from rpochaos.faults.shim import ClockSkew
from rpochaos.history import Outcome
from rpochaos.history_read import read_history
from rpochaos.mariadb import deps as mdeps
from rpochaos.mariadb.cluster import MariaDBCluster
from rpochaos.mariadb.settings import MariaDBSettings
from tests.helpers import SCENARIOS, require
from tests.integration.helpers import cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

STALL_AT, STALL_FOR = 2.0, 2.0
SETTINGS = MariaDBSettings(
    semi_sync={"replica1": True},
    rpl_semi_sync_master_timeout=2000,
    rpl_semi_sync_master_wait_point="AFTER_SYNC",
    rpl_semi_sync_master_wait_no_slave=True,
    sync_binlog=1,
    innodb_flush_log_at_trx_commit=1,
)


def _io_stall_scenario(path: Path) -> Path:
    """mariadb-semisync-no-fallback's topology and workload; the primary's disk stalls for
    2 s at 2 s, then the primary dies and replica1 is promoted."""
    base = (SCENARIOS / "mariadb-semisync-no-fallback.yaml").read_text()
    head = base[: base.index("\nschedule:")]
    head = head.replace("name: mariadb-semisync-no-fallback", "name: mariadb-io-stall")
    path.write_text(
        head
        + f"""
schedule:
  - at: {STALL_AT}s
    io_stall: primary
    for: {STALL_FOR}s
  - at: 6s
    crash: primary
    outage: true
  - at: 6500ms
    promote: replica1
expect:
  rpo: 1s
  max_lost: 0
"""
    )
    return path


@pytest.mark.parametrize("backend_name", ["local", "docker"])
def test_io_stall_on_the_primary_holds_its_commits_and_loses_nothing(
    tmp_path: Path, backend_name: str
) -> None:
    require(deps.toxiproxy_server)
    if backend_name == "local":
        require(mdeps.check)
    else:
        require(engine.client).close()
    out = tmp_path / "run"
    scenario = str(_io_stall_scenario(tmp_path / "s.yaml"))
    proc = cli("run", scenario, "--out", str(out), "-q", "--backend", backend_name, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads((out / "result.json").read_text())
    assert r["verdict"] == "PASS" and r["writes"]["lost"] == 0
    stall = next(f for f in r["faults"] if f["kind"] == "io_stall")
    begin, end = stall["effective_start_s"], stall["effective_end_s"]
    acked = sorted(
        o.complete_s
        for o in read_history(out / "history.jsonl")
        if o.outcome is Outcome.OK and o.complete_s is not None
    )
    # no commit returned while the disk was stalled (20 writes/s: one every 50 ms otherwise),
    # and the first one after it returned once the stall was healed
    during = [t for t in acked if begin + 0.05 < t < end]
    assert during == [], during
    after = [t for t in acked if t >= end]
    assert after and after[0] - end < 0.5, (end, after[:3])
    before = [t for t in acked if t <= begin]
    assert before and begin - before[-1] < 0.5, (begin, before[-3:])


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    require(mdeps.check)
    require(deps.toxiproxy_server)
    b = LocalBackend(tmp_path)
    try:
        yield b
    finally:
        b.close()
        b.remove_data()


def _wall_offset(cluster: MariaDBCluster, name: str) -> float:
    """The node's wall clock (``NOW(6)``) minus ours, in seconds."""
    before = time.time()
    ((now,),) = cluster.node(name).query("SELECT UNIX_TIMESTAMP(NOW(6))")
    after = time.time()
    return float(str(now)) - (before + after) / 2


def test_clock_skew_moves_the_skewed_nodes_wall_clock_live_and_its_heal_restores_it(
    backend: LocalBackend,
) -> None:
    nodes = ["primary", "replica1"]
    controls = shim.prepare([("clock_skew", ["primary"])], nodes, backend.data_root())
    proxy = backend.start_proxy()
    cluster = MariaDBCluster(SETTINGS, backend, proxy, node_env=controls.env)
    try:
        cluster.start()
        assert abs(_wall_offset(cluster, "primary")) < 0.5
        with ClockSkew("primary", controls.clocks["primary"], offset_s=-3600.0):
            assert abs(_wall_offset(cluster, "primary") + 3600) < 0.5
            assert abs(_wall_offset(cluster, "replica1")) < 0.5  # the other node: untouched
        assert abs(_wall_offset(cluster, "primary")) < 0.5
    finally:
        cluster.close()
        proxy.close()
