"""Patroni-managed PostgreSQL against real Patroni 4.1, etcd, PostgreSQL 15 and Toxiproxy.

Without Patroni or etcd the tests skip with the install command (scripts/patroni-setup.sh);
under CI=true they fail instead. ttl is Patroni's floor (20 s), so a hard failover costs
about 20 s; to stay within ~90 s every test shares one 2-node cluster, in file order:
bring-up, host crash (and the old leader rejoining), a failover refused for lag, and close.
Each test starts from ``wait_ready``, so any one of them also runs alone (``-k``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
import pytest
import yaml

from rpochaos.backends.local import LocalBackend
from rpochaos.errors import ScenarioError
from rpochaos.patroni import deps
from rpochaos.patroni.cluster import PatroniCluster
from rpochaos.patroni.config import (
    Credentials,
    NodeSpec,
    PatroniSettings,
    node_config,
    render,
    settings_from_mapping,
)
from rpochaos.patroni.etcd import Etcd
from rpochaos.proxy import Toxiproxy
from rpochaos.waiting import wait_until
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

SETTINGS = PatroniSettings(
    ttl=20,
    loop_wait=1,
    retry_timeout=5,
    maximum_lag_on_failover=16 * 1024 * 1024,
    synchronous_mode="off",
    synchronous_node_count=1,
    failsafe_mode=False,
    use_pg_rewind=True,
)


@dataclass
class Stack:
    backend: LocalBackend
    proxy: Toxiproxy
    dcs: Etcd
    cluster: PatroniCluster
    closed: bool = False

    def close(self) -> list[int]:
        """Close everything (again, if called twice); return the pids of every process that
        is still alive."""
        self.closed = True
        t0 = time.monotonic()
        self.cluster.close()
        t1 = time.monotonic()
        self.dcs.close()
        self.proxy.close()
        servers = self.backend.servers()
        self.backend.close()
        t2 = time.monotonic()
        self.backend.remove_data()
        t3 = time.monotonic()
        print(f"\nclose: cluster {t1 - t0:.2f} s, etcd+proxy {t2 - t1:.2f} s, data {t3 - t2:.2f} s")
        left = [p for pids in self.cluster.processes().values() for p in pids]
        left += [s.pid for s in servers if s.running()]
        return left


@pytest.fixture(scope="module")
def patroni_deps(real_pg: None) -> None:
    require(deps.patroni)
    require(deps.etcd)


def _stack(run_dir: Path, settings: PatroniSettings) -> Stack:
    backend = LocalBackend(run_dir)
    try:
        proxy = backend.start_proxy()
        dcs = Etcd(backend, backend.data_root() / "etcd").start()
        cluster = PatroniCluster(backend, proxy, dcs, settings, nodes=2)
        stack = Stack(backend, proxy, dcs, cluster)
    except BaseException:
        backend.close()
        backend.remove_data()
        raise
    try:
        cluster.start()
    except BaseException:
        stack.close()
        raise
    return stack


@pytest.fixture(scope="module")
def two_nodes(patroni_deps: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    t0 = time.monotonic()
    stack = _stack(tmp_path_factory.mktemp("patroni"), SETTINGS)
    print(f"\n2-node Patroni cluster ready in {time.monotonic() - t0:.1f} s")
    yield stack
    stack.close()


def _leader_and_replica(cluster: PatroniCluster) -> tuple[str, str]:
    view = cluster.wait_ready()
    assert view.leader is not None
    leader = view.leader.name
    (replica,) = (n for n in cluster.nodes if n != leader)
    return leader, replica


def _wal_receiver(cluster: PatroniCluster, node: str) -> tuple[str, int, str] | None:
    with psycopg.connect(cluster.node(node).conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT sender_host, sender_port, status FROM pg_stat_wal_receiver"
        ).fetchone()
    return (str(row[0]), int(row[1]), str(row[2])) if row else None


def test_settings_are_all_declared_and_ttl_below_patronis_floor_is_refused() -> None:
    with pytest.raises(ScenarioError) as e:
        settings_from_mapping({"ttl": 10, "loop_wait": 1}, file="s.yaml")
    text = str(e.value)
    assert "s.yaml: topology.patroni.retry_timeout: got nothing" in text
    assert "topology.patroni.use_pg_rewind: got nothing" in text
    with pytest.raises(ScenarioError, match=r"topology\.patroni\.ttl: got 10, .*raises"):
        replace(SETTINGS, ttl=10).check()
    with pytest.raises(ScenarioError, match=r"loop_wait 11 \+ 2 \* retry_timeout 5 > ttl 20"):
        replace(SETTINGS, loop_wait=11).check()


def test_node_config_points_replication_at_the_proxy_and_says_every_setting() -> None:
    spec = NodeSpec(
        name="n1",
        pg_listen="127.0.0.1:5001",
        pg_connect="127.0.0.1:6001",
        rest_listen="127.0.0.1:7001",
        rest_connect="127.0.0.1:7001",
        data_dir=Path("/d/pgdata"),
        socket_dir=Path("/d/sock"),
        pgpass=Path("/d/pgpass"),
        etcd_hosts=("127.0.0.1:8001",),
        etcd_proxied=True,
    )
    creds = Credentials(superuser="a", replication="b", rewind="c")
    strict = replace(SETTINGS, synchronous_mode="strict")
    text = render(
        node_config(scope="s", node=spec, settings=strict, bin_dir=Path("/b"), credentials=creds)
    )
    conf = yaml.safe_load(text)
    assert conf["postgresql"]["connect_address"] == "127.0.0.1:6001"
    assert conf["postgresql"]["listen"] == "127.0.0.1:5001"
    assert conf["etcd3"] == {"hosts": ["127.0.0.1:8001"], "use_proxies": True}
    dcs = conf["bootstrap"]["dcs"]
    assert dcs["synchronous_mode"] is True and dcs["synchronous_mode_strict"] is True
    assert {k: dcs[k] for k in ("ttl", "loop_wait", "retry_timeout")} == {
        "ttl": 20,
        "loop_wait": 1,
        "retry_timeout": 5,
    }
    assert dcs["maximum_lag_on_failover"] == SETTINGS.maximum_lag_on_failover
    assert dcs["postgresql"]["use_pg_rewind"] is True
    direct = replace(spec, etcd_proxied=False)
    off = node_config(
        scope="s", node=direct, settings=SETTINGS, bin_dir=Path("/b"), credentials=creds
    )
    assert off["etcd3"] == {"hosts": ["127.0.0.1:8001"]}
    assert yaml.safe_load(render(off))["bootstrap"]["dcs"]["synchronous_mode"] is False


def test_two_nodes_come_up_and_replicate_through_the_leaders_proxy(two_nodes: Stack) -> None:
    cluster, proxy = two_nodes.cluster, two_nodes.proxy
    leader, replica = _leader_and_replica(cluster)
    lead = cluster.node(leader)
    got = _wal_receiver(cluster, replica)
    assert got == ("127.0.0.1", lead.proxy_port, "streaming"), (got, lead)
    assert lead.proxy_port != lead.pg_port
    # the path really is the proxy: cut it and the replica stops streaming (Patroni sees it
    # too), heal it and it streams again
    proxy.set_enabled(lead.proxy_name, False)
    try:

        def cut() -> bool:
            member = cluster.view(prefer=replica).member(replica)
            gone = _wal_receiver(cluster, replica) is None
            return gone and member is not None and member.state != "streaming"

        wait_until(
            "the replica kept streaming with its leader's proxy disabled",
            15,
            cut,
            cluster.log_tail,
        )
    finally:
        proxy.set_enabled(lead.proxy_name, True)
    t0 = time.monotonic()
    cluster.wait_ready(timeout_s=30)
    print(f"streaming again {time.monotonic() - t0:.1f} s after the proxy was re-enabled")
    wait_until(
        "the replica's WAL receiver did not come back through the proxy",
        10,
        lambda: _wal_receiver(cluster, replica) == ("127.0.0.1", lead.proxy_port, "streaming"),
        cluster.log_tail,
    )


def test_host_crash_of_the_leader_promotes_the_replica_and_the_old_leader_rejoins(
    two_nodes: Stack, record_property: pytest.RecordProperty
) -> None:
    cluster = two_nodes.cluster
    leader, replica = _leader_and_replica(cluster)
    with psycopg.connect(cluster.node(leader).conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY)")
        conn.execute("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING")
        lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
    assert lsn is not None

    def replayed() -> bool:
        with psycopg.connect(cluster.node(replica).conninfo, autocommit=True) as c:
            row = c.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn[0],)).fetchone()
        return bool(row and row[0])

    wait_until("the replica did not replay the row", 15, replayed, cluster.log_tail)

    t0 = time.monotonic()
    cluster.crash_host(leader)
    assert cluster.node(leader).processes() == []
    promoted = cluster.wait_primary(other_than=leader, timeout_s=60)
    failover_s = time.monotonic() - t0
    record_property("failover_s", round(failover_s, 1))
    print(f"host crash of {leader}: {promoted} writable after {failover_s:.1f} s")
    assert promoted == replica
    # Patroni waits for the leader key to expire: not before ttl - loop_wait, not much after
    assert SETTINGS.ttl - SETTINGS.loop_wait - 1 <= failover_s <= SETTINGS.ttl + 15
    with psycopg.connect(cluster.node(replica).conninfo, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM t WHERE id = 1").fetchone() == (1,)
        conn.execute("INSERT INTO t VALUES (2)")

    t0 = time.monotonic()
    cluster.start_node(leader)
    view = cluster.wait_ready(timeout_s=45)
    rejoin_s = time.monotonic() - t0
    record_property("rejoin_s", round(rejoin_s, 1))
    print(f"{leader} restarted: streaming from {replica} after {rejoin_s:.1f} s")
    assert view.leader is not None and view.leader.name == replica
    old = view.member(leader)
    assert old is not None and old.timeline == view.leader.timeline


def test_maximum_lag_on_failover_refuses_to_promote_a_replica_too_far_behind(
    two_nodes: Stack,
) -> None:
    cluster, proxy = two_nodes.cluster, two_nodes.proxy
    limit = 256 * 1024
    cluster.apply_settings(replace(SETTINGS, maximum_lag_on_failover=limit))
    leader, replica = _leader_and_replica(cluster)
    lead = cluster.node(leader)
    # replication stalls silently: the connection stays open, no byte gets through
    proxy.add_toxic(lead.proxy_name, "stall", "timeout", "downstream", {"timeout": 0})
    with psycopg.connect(lead.conninfo, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE big AS SELECT g AS id, repeat('x', 200) AS pad "
            "FROM generate_series(1, 20000) g"
        )

    def behind() -> bool:
        m = cluster.view(prefer=replica).member(replica)
        return m is not None and m.lag is not None and m.lag > limit

    wait_until("Patroni never saw the replica behind", 20, behind, cluster.log_tail)
    log = two_nodes.backend.logs / f"patroni-{replica}.log"
    refusals = log.read_text().count("exceeds maximum replication lag")
    cluster.crash_host(leader)
    t0 = time.monotonic()
    wait_until(
        "the replica never refused to take over",
        45,
        lambda: log.read_text().count("exceeds maximum replication lag") > refusals,
        cluster.log_tail,
    )
    print(f"failover refused for lag {time.monotonic() - t0:.1f} s after the host crash")
    assert cluster.view(prefer=replica).leader is None
    time.sleep(3 * SETTINGS.loop_wait)  # and it keeps refusing
    assert cluster.view(prefer=replica).leader is None
    assert not cluster.writable(replica)


def test_close_leaves_no_process(two_nodes: Stack) -> None:
    etcd_pids = [m.server.pid for m in two_nodes.dcs.members if m.server is not None]
    assert etcd_pids
    assert any(two_nodes.cluster.processes().values())
    t0 = time.monotonic()
    assert two_nodes.close() == []
    print(f"closed in {time.monotonic() - t0:.1f} s")
    assert not any(Path(f"/proc/{p}").exists() for p in etcd_pids)
