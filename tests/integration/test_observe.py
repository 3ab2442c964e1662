"""The PostgreSQL observer against a real primary + async replica.

A write load runs; the replication link is blackholed for a few seconds and healed; then the
primary is killed and the replica promoted. The observer must show the partition (lag bytes
growing, ``stalled_s`` rising on the harness clock while the server's *_lag columns say
nothing), its end (stalled back to 0, lag bytes back down), the dead primary (error samples,
sampling goes on) and the new primary (followed through ``cluster.primary_name``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rpochaos.backends import start_proxy
from rpochaos.backends.local import LocalBackend
from rpochaos.clock import Clock
from rpochaos.errors import RpochaosError
from rpochaos.faults.network import Partition
from rpochaos.history import Journal
from rpochaos.observe.postgres import OBSERVATIONS, PostgresObserver, read_observations
from rpochaos.proxy import Toxiproxy
from rpochaos.scenario import loads
from rpochaos.topology.postgres import PostgresCluster, PostgresNode
from rpochaos.workload.postgres import PostgresWriter

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LINK = "replica1->primary"
SCENARIO = """
name: observe-test
system: postgres
topology:
  synchronous_commit: "on"
  replicas:
    - name: replica1
      mode: async
  settings:
    wal_sender_timeout: 10s
    wal_retrieve_retry_interval: 200ms   # the walreceiver reconnects soon after the heal
workload:
  rate: 300/s
  concurrency: 2
  duration: 60s
  connect_timeout: 1s
schedule:
  - at: 50s
    crash: primary
    outage: true
expect:
  rpo: 1s
"""


@dataclass
class Setup:
    cluster: PostgresCluster
    proxy: Toxiproxy
    clock: Clock
    run_dir: Path


@pytest.fixture
def pg(real_pg: None, tmp_path: Path) -> Iterator[Setup]:
    sc = loads(SCENARIO)
    backend = LocalBackend(tmp_path)
    proxy: Toxiproxy | None = None
    cluster: PostgresCluster | None = None
    try:
        proxy = start_proxy(backend)
        cluster = PostgresCluster(sc.topology, backend, proxy, backend.data_root())
        cluster.start()
        yield Setup(cluster, proxy, Clock(), tmp_path)
    finally:
        if cluster is not None:
            cluster.close()
        if proxy is not None:
            with contextlib.suppress(RpochaosError):
                proxy.reset()
            proxy.close()
        backend.close()
        backend.remove_data()


def wait_until(what: str, cond: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    pytest.fail(f"{what} within {timeout_s:g} s")


def replica(sample: dict[str, Any] | None, name: str = "replica1") -> dict[str, Any] | None:
    if not sample:
        return None
    return next((r for r in sample.get("replicas", []) if r["name"] == name), None)


def test_observer_shows_partition_heal_crash_and_failover(pg: Setup) -> None:
    sc = loads(SCENARIO)
    path = pg.run_dir / OBSERVATIONS
    obs = PostgresObserver(pg.cluster, pg.clock, path, rate_hz=10.0)
    journal = Journal(pg.run_dir / "history.jsonl")
    writer = PostgresWriter(pg.cluster.client_endpoints(), sc.workload, journal, pg.clock)
    obs.start()
    writer.start()
    try:
        pg.clock.sleep_until(1.5)
        t_cut = pg.clock.now()
        with Partition(pg.proxy, LINK, mode="blackhole", direction="both"):
            pg.clock.sleep_until(t_cut + 3.0)
            t_heal = pg.clock.now()

        def healed() -> bool:
            r = replica(obs.latest())
            return bool(r and r["connected"] and r["stalled_s"] == 0 and r["lag_bytes"] < 65536)

        wait_until("replica1 streaming and caught up again after the heal", healed, 15.0)
        t_ok = pg.clock.now()
        pg.clock.sleep_until(t_ok + 0.5)
        t_crash = pg.clock.now()
        pg.cluster.crash("primary")
        pg.clock.sleep_until(t_crash + 1.0)
        pg.cluster.promote("replica1")
        t_promoted = pg.clock.now()
        pg.clock.sleep_until(t_promoted + 1.0)
    finally:
        writer.stop_issuing()
        writer.join(5.0)
        journal.close()
        stats = obs.stop()

    samples = read_observations(path)
    assert samples, "no samples written"
    # -- the sampling itself ---------------------------------------------------------------
    span = samples[-1]["t"] - samples[0]["t"]
    assert len(samples) >= 0.8 * 10.0 * span, (len(samples), span)
    assert stats["samples"] == len(samples)
    assert stats["achieved_hz"] >= 8.0, stats
    ts = [s["t"] for s in samples]
    assert ts == sorted(ts)

    def rep_at(lo: float, hi: float) -> list[dict[str, Any]]:
        out = []
        for s in samples:
            r = replica(s)
            if lo <= s["t"] < hi and s["primary"] == "primary" and r is not None:
                out.append({**r, "t": s["t"]})
        return out

    before = rep_at(0.3, t_cut)
    during = rep_at(t_cut + 0.5, t_heal)
    after = rep_at(t_ok, t_crash)
    assert before and during and after
    # before: streaming, not stalled, little lag
    assert all(r["state"] == "streaming" for r in before)
    base_lag = max(r["lag_bytes"] for r in before)
    assert max(r["stalled_s"] for r in before) < 0.5, before
    # during: flush LSN stuck while the primary's moves -> stalled rises on the harness clock,
    # lag bytes grow
    stalled = [r["stalled_s"] for r in during]
    assert max(stalled) >= 2.0, stalled
    assert stalled[-1] > stalled[0] + 1.5, stalled
    lags = [r["lag_bytes"] for r in during]
    assert lags[-1] > lags[0] > 0, lags
    assert lags[-1] > 10 * max(base_lag, 1000), (base_lag, lags)
    assert len({r["flush_lsn"] for r in during}) == 1, "flush LSN advanced during a blackhole"
    # after: caught up again
    assert after[-1]["stalled_s"] == 0 and after[-1]["lag_bytes"] < 65536, after[-1]
    assert after[-1]["connected"] and after[-1]["state"] == "streaming"
    # the standby's own view, read on the standby
    assert all(r["receive_lsn"] for r in before)
    # the crash: error samples, sampling goes on
    down = [s for s in samples if t_crash + 0.3 <= s["t"] < t_promoted - 0.1]
    assert down and all(s["error"] and s["error"].startswith("primary:") for s in down), down[:2]
    assert all(s["replicas"] == [] for s in down)
    # the failover: the observer follows cluster.primary_name
    late = [s for s in samples if s["t"] >= t_promoted + 0.5]
    assert late and all(s["primary"] == "replica1" for s in late)
    assert late[-1]["error"] is None and late[-1]["primary_lsn"]
    assert late[-1]["nodes"]["replica1"]["in_recovery"] is False


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _children(parent: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if _ppid(int(d.name)) == parent:
                    out.append(int(d.name))
    return out


class Frozen:
    """SIGSTOP a PostgreSQL server and every process it forked. (Each PostgreSQL child calls
    setsid(), so signalling the postmaster's process group reaches the postmaster alone.)"""

    def __init__(self, node: PostgresNode) -> None:
        with node.connect() as c:  # read the parent while this backend still exists
            row = c.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            self.postmaster = _ppid(int(row[0]))

    def __enter__(self) -> Frozen:
        os.kill(self.postmaster, signal.SIGSTOP)  # first: no new child from here on
        for pid in _children(self.postmaster):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        return self

    def __exit__(self, *exc: object) -> None:
        for pid in _children(self.postmaster):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        os.kill(self.postmaster, signal.SIGCONT)


def test_a_paused_standby_blocks_only_its_own_poller(pg: Setup) -> None:
    """SIGSTOP: the server cannot enforce statement_timeout, so the query just hangs. The
    samples must go on at the rate, mark the standby's reading stale, and recover after
    SIGCONT; stop() must not wait for the stuck poller."""
    path = pg.run_dir / OBSERVATIONS
    obs = PostgresObserver(pg.cluster, pg.clock, path, rate_hz=10.0)
    node = pg.cluster.nodes["replica1"]
    obs.start()
    frozen = Frozen(node)
    try:
        pg.clock.sleep_until(1.0)
        t_pause = pg.clock.now()
        with frozen:
            pg.clock.sleep_until(t_pause + 2.5)
        t_resume = pg.clock.now()

        def answering() -> bool:
            s = obs.latest()
            return bool(s and s["nodes"]["replica1"]["ok"] and s["t"] > t_resume)

        wait_until("replica1's reading fresh again after SIGCONT", answering, 10.0)
        with frozen:  # stop while a poller is stuck
            t0 = time.monotonic()
            pg.clock.sleep_until(pg.clock.now() + 1.5)
            stats = obs.stop(timeout_s=3.0)
            stop_took = time.monotonic() - t0 - 1.5
    finally:
        obs.stop()
    assert stop_took < 1.0, stop_took
    samples = read_observations(path)
    paused = [s for s in samples if t_pause + 1.6 <= s["t"] < t_resume]
    assert len(paused) >= 6, "sampling stalled while a standby was paused"
    for s in paused:
        assert s["nodes"]["replica1"]["ok"] is False
        assert "no answer" in s["nodes"]["replica1"]["error"]
        assert s["nodes"]["primary"]["ok"] is True and s["error"] is None
    assert stats["achieved_hz"] >= 8.0, stats
