"""MariaDB semi-sync replication against real MariaDB 10.11 (Debian) and Toxiproxy.

Without MariaDB the tests skip with the set-up command (scripts/mariadb-setup.sh); under
CI=true they fail instead. Each test brings up its own primary + 1 replica (~2-4 s) with the
replica's replication connection through its own proxy ``replica1->primary``. The evidence is
the journal (when each commit returned, and with what), the observer's samples (what the
primary said about semi-sync) and a final read of the promoted replica, all on the harness
clock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rpochaos import deps
from rpochaos.backends.local import LocalBackend
from rpochaos.clock import Clock
from rpochaos.errors import ScenarioError
from rpochaos.history import Journal, Op, Outcome
from rpochaos.history_read import read_history
from rpochaos.mariadb import deps as mdeps
from rpochaos.mariadb.cluster import MariaDBCluster
from rpochaos.mariadb.observe import MariaDBObserver
from rpochaos.mariadb.settings import MariaDBSettings, settings_from_mapping
from rpochaos.mariadb.workload import MariaDBWriter
from rpochaos.proxy import Toxiproxy
from rpochaos.waiting import wait_until
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

LINK = "replica1->primary"


def settings(timeout_ms: int) -> MariaDBSettings:
    return MariaDBSettings(
        semi_sync={"replica1": True},
        rpl_semi_sync_master_timeout=timeout_ms,
        rpl_semi_sync_master_wait_point="AFTER_SYNC",
        rpl_semi_sync_master_wait_no_slave=True,
        sync_binlog=1,
        innodb_flush_log_at_trx_commit=1,
    )


@dataclass(frozen=True)
class Load:
    rate: float = 20.0
    concurrency: int = 1
    connect_timeout: float = 1.0
    commit_timeout: float | None = None


@dataclass
class Stack:
    backend: LocalBackend
    proxy: Toxiproxy
    run_dir: Path


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    require(mdeps.check)
    require(deps.toxiproxy_server)
    backend = LocalBackend(tmp_path)
    proxy = backend.start_proxy()
    try:
        yield Stack(backend, proxy, tmp_path)
    finally:
        proxy.close()
        backend.close()
        backend.remove_data()


@dataclass
class Running:
    cluster: MariaDBCluster
    writer: MariaDBWriter
    observer: MariaDBObserver
    journal: Journal
    clock: Clock
    run_dir: Path

    def finish(self) -> list[Op]:
        self.writer.stop_issuing()
        assert self.writer.join(10.0)
        self.observer.stop()
        self.journal.close()
        return read_history(self.run_dir / "history.jsonl")


def run_writes(stack: Stack, cluster: MariaDBCluster) -> Running:
    clock = Clock()
    journal = Journal(stack.run_dir / "history.jsonl")
    observer = MariaDBObserver(cluster, clock, stack.run_dir / "obs.jsonl", interval_s=0.05)
    writer = MariaDBWriter(
        cluster.client_endpoint(),
        cluster.by_server_id,
        cluster.credentials.writer,
        Load(),
        journal,
        clock,
    )
    observer.start()
    writer.start()
    return Running(cluster, writer, observer, journal, clock, stack.run_dir)


def wait_writes(r: Running, count: int) -> None:
    """Wait until ``count`` writes were acknowledged (semi-sync ON, the replica has them)."""
    wait_until(
        f"the writer had not {count} writes acknowledged",
        20,
        lambda: r.writer.acknowledged >= count,
        r.cluster.log_tail,
    )


def acked(ops: list[Op]) -> list[Op]:
    return [o for o in ops if o.outcome is Outcome.OK and o.complete_s is not None]


def end(o: Op) -> float:
    """When an acknowledged write returned."""
    assert o.complete_s is not None
    return o.complete_s


def crash_and_promote(r: Running) -> tuple[float, list[Op], frozenset[int]]:
    """Crash the primary (links cut), promote replica1, let the writer write there for a
    moment, stop it; the crash time, the journal, the promoted node's rows."""
    down: list[float] = []
    r.cluster.crash("primary", on_down=lambda: down.append(r.clock.now()))
    r.cluster.promote("replica1")
    wait_until(
        "no write was acknowledged by the promoted replica",
        10,
        lambda: any(o.node == "replica1" for o in acked(read_history(r.journal.path))),
        r.cluster.log_tail,
    )
    ops = r.finish()
    return down[0], ops, r.cluster.read_seqs("replica1")


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_bring_up_replicates_through_the_proxy_and_close_leaves_nothing(stack: Stack) -> None:
    cluster = MariaDBCluster(settings(2000), stack.backend, stack.proxy)
    t0 = time.monotonic()
    cluster.start()
    up = time.monotonic() - t0
    try:
        port = cluster.link_ports[LINK]
        state = cluster.replica_state("replica1")
        assert int(state["Master_Port"]) == port != cluster.node("primary").port
        assert cluster.semi_sync_status()["Rpl_semi_sync_master_status"] == "ON"
        # cutting the proxy really cuts replication (the replica has no other way)
        stack.proxy.set_enabled(LINK, False)
        wait_until(
            "the replica's IO thread did not notice its link was cut",
            10,
            lambda: cluster.replica_state("replica1")["Slave_IO_Running"] != "Yes",
            cluster.log_tail,
        )
        stack.proxy.set_enabled(LINK, True)
        cluster.wait_ready(10)
        # pause freezes the node's process, resume thaws it
        replica = cluster.nodes["replica1"]
        replica.pause()
        pid = cluster.pid_of("replica1")
        assert pid is not None and _state(pid) == "T"
        replica.resume()
        assert _state(pid) != "T"
        cluster.wait_ready(10)
        assert cluster.durability()["server"] == {
            "rpl_semi_sync_master_enabled": "1",
            "rpl_semi_sync_master_timeout": "2000",
            "rpl_semi_sync_master_wait_point": "AFTER_SYNC",
            "rpl_semi_sync_master_wait_no_slave": "1",
            "sync_binlog": "1",
            "innodb_flush_log_at_trx_commit": "1",
        }
    finally:
        pids = list(cluster.processes().values())
        t1 = time.monotonic()
        cluster.close()
        closed = time.monotonic() - t1
    print(f"\nbring-up {up:.2f} s, close {closed:.2f} s")
    assert len(pids) == 2
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]
    assert not cluster.processes()
    assert not stack.proxy.proxies()


def test_semi_sync_times_out_to_async_and_failover_loses_acknowledged_writes(
    stack: Stack,
) -> None:
    with MariaDBCluster(settings(2000), stack.backend, stack.proxy) as cluster:
        r = run_writes(stack, cluster)
        wait_writes(r, 10)
        cut_at = r.clock.now()
        # silent both ways: open connection, no bytes. Events first, then acknowledgements:
        # the two toxics are two API calls, and a commit whose event crossed before the
        # first landed but whose acknowledgement met the second stalls yet is on the replica
        for stream in ("downstream", "upstream"):
            stack.proxy.add_toxic(LINK, f"silent-{stream}", "timeout", stream, {"timeout": 0})
        time.sleep(4.0)
        crashed_at, ops, present = crash_and_promote(r)
        cluster.recover("primary")

    oks = acked(ops)
    before = [o for o in oks if end(o) < cut_at]
    assert before and all(o.seq in present for o in before)
    # the first commit after the cut waits out the timeout, then returns OK, no warning
    stalled = next(
        (o for o in oks if o.invoke_s >= cut_at - 0.1 and end(o) - o.invoke_s > 1.0), None
    )
    assert stalled is not None, "no commit after the cut waited for the replica"
    waited = end(stalled) - stalled.invoke_s
    assert 1.9 <= waited <= 3.0, waited
    # nothing acknowledged before it is lost; it is lost itself unless its event crossed
    # between the two toxics (then only its acknowledgement was held)
    lost = [o for o in oks if o.seq not in present]
    assert lost, "no write acknowledged after the cut was lost"
    assert all(o.seq >= stalled.seq for o in lost), (stalled, lost[0])
    if lost[0].seq != stalled.seq:
        assert stalled.seq in present
        assert lost[0].seq == min(o.seq for o in oks if o.seq > stalled.seq)
    # later commits no longer wait
    after = [o for o in oks if o.invoke_s > end(stalled) and end(o) < crashed_at]
    assert len(after) >= 20
    slowest = max(end(o) - o.invoke_s for o in after)
    assert slowest < 0.5
    # every write the old primary acknowledged from the stalled one on is gone from the
    # promoted node; what the promoted node acknowledged since is there
    by_old = {o.seq for o in oks if o.node == "primary"}
    assert {o.seq for o in lost} == {s for s in by_old if s >= lost[0].seq}
    by_new = [o for o in oks if o.node == "replica1"]
    assert by_new and all(o.seq in present for o in by_new)
    # the primary said so, and only the primary: status OFF within a sampling period
    offs = [s for s in r.observer.switches if s["type"] == "semi_sync_off"]
    assert len(offs) == 1
    off_t = float(str(offs[0]["t"]))
    assert end(stalled) - 0.15 <= off_t <= end(stalled) + 0.15, (off_t, stalled)
    # ... and the file says the same, beside the samples that show it
    records = [json.loads(line) for line in (stack.run_dir / "obs.jsonl").read_text().splitlines()]
    assert [x for x in records if x["type"] == "semi_sync_off"] == offs
    prim = [x for x in records if x["type"] == "primary" and x["node"] == "primary"]
    assert prim[0]["status"] == "ON" and prim[-1]["status"] == "OFF"
    assert prim[-1]["no_tx"] >= len(after)
    assert any(x["type"] == "replica" and x["io"] == "Yes" for x in records)
    # the old primary cannot follow the promoted replica: it has what the replica lacks
    assert [j.errno for j in cluster.rejoins] == [1236]
    print(
        f"\nstalled commit {waited:.3f} s, {len(after)} later acks in "
        f"{slowest * 1000:.1f} ms at most; lost {len(lost)} of {len(oks)} acknowledged; "
        f"switch-off seen at {off_t:.3f} (stalled commit returned at {end(stalled):.3f}); "
        f"rejoin: {cluster.rejoins[0].error}"
    )


def test_a_timeout_beyond_the_outage_stalls_commits_and_loses_nothing(stack: Stack) -> None:
    with MariaDBCluster(settings(60_000), stack.backend, stack.proxy) as cluster:
        r = run_writes(stack, cluster)
        wait_writes(r, 10)
        stack.proxy.set_enabled(LINK, False)
        cut_at = r.clock.now()  # in force from here on
        time.sleep(3.0)
        healed_at = r.clock.now()
        stack.proxy.set_enabled(LINK, True)
        wait_until(
            "semi-sync did not acknowledge again",
            15,
            lambda: r.writer.acknowledged > 0 and r.clock.now() - healed_at > 1.0,
            cluster.log_tail,
        )
        _crashed_at, ops, present = crash_and_promote(r)

    oks = acked(ops)
    # (an acknowledgement already on its way when the link was cut may land just after)
    during = [o for o in oks if cut_at + 0.05 < end(o) < healed_at]
    assert not during, "a commit returned while the replica was cut off"
    stalled = next(o for o in oks if end(o) > cut_at + 0.05)
    assert end(stalled) >= healed_at
    lost = [o.seq for o in oks if o.seq not in present]
    assert lost == []
    assert not [s for s in r.observer.switches if s["type"] == "semi_sync_off"]
    print(
        f"\nstalled commit {end(stalled) - stalled.invoke_s:.3f} s "
        f"(outage {healed_at - cut_at:.2f} s), {len(oks)} acknowledged, lost 0"
    )


def test_every_setting_is_declared_and_every_mistake_is_named_at_once() -> None:
    with pytest.raises(ScenarioError) as e:
        settings_from_mapping(
            {
                "semi_sync": {"replica1": True},
                "rpl_semi_sync_master_timeout": 2000,
                "rpl_semi_sync_master_wait_point": "after_whenever",
                "sync_binlog": -1,
                "innodb_flush_log_at_trx_commit": 1,
                "rpl_semi_sync_master_wait_for_slave_count": 1,
            },
            file="s.yaml",
        )
    text = str(e.value)
    assert text.startswith("4 problems"), text
    for key, expected in [
        ("rpl_semi_sync_master_wait_no_slave", "got nothing, expected a value"),
        ("rpl_semi_sync_master_wait_for_slave_count", "got an unknown key"),
        ("rpl_semi_sync_master_wait_point", "got 'AFTER_WHENEVER', expected AFTER_SYNC or "),
        ("sync_binlog", "got -1, expected a whole number from 0"),
    ]:
        assert f"s.yaml: topology.mariadb.{key}: {expected}" in text, text
    ok = settings_from_mapping(
        {
            "semi_sync": {"replica1": True, "replica2": False},
            "rpl_semi_sync_master_timeout": 2000,
            "rpl_semi_sync_master_wait_point": "after_sync",
            "rpl_semi_sync_master_wait_no_slave": False,
            "sync_binlog": 1,
            "innodb_flush_log_at_trx_commit": 1,
        },
        file="s.yaml",
    )
    assert ok.replicas == ["replica1", "replica2"]
    assert "--rpl-semi-sync-slave-enabled=OFF" in ok.server_args("replica2")
    assert "--rpl-semi-sync-master-wait-point=AFTER_SYNC" in ok.server_args("primary")
