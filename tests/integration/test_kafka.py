"""Kafka against real brokers: KRaft JVMs on 127.0.0.1 (and, for the bring-up and
crash/recover tests, also as containers on the docker backend), every link through Toxiproxy.

The ground truth the Kafka scenarios rely on, made directly with the library's classes:

- (a) acks=1, the leader's replication links cut (followers cannot fetch), the leader
  killed ``CUT_TO_CRASH_S`` later, a follower still in the ISR takes over: the acknowledged
  tail since the cut is lost, and the loss window is close to the cut-to-kill time;
- (b) the same with acks=all, min.insync.replicas=2 and an idempotent producer: nothing
  acknowledged is lost, produce stalls instead;
- (c) an independent kafka-python consumer reading the topic afterwards agrees with the
  cluster's final read.

replica.lag.time.max.ms is 5 s here, so the leader would drop its cut-off followers from the
ISR 5 s after the cut; the crash comes 3 s after the cut, while they are still in the ISR (a
leader whose ISR already shrank to itself would leave the partition offline when it dies).

Without the jars, java or the Toxiproxy server (or, for the docker cases, a docker engine) the
tests skip with the install command, except under CI=true, where they fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rpochaos import deps
from rpochaos.backends import start_proxy
from rpochaos.backends.base import Backend
from rpochaos.backends.local import LocalBackend
from rpochaos.clock import Clock
from rpochaos.faults.network import Partition
from rpochaos.history import Journal, Op, Outcome, read_history
from rpochaos.kafka import jars
from rpochaos.kafka.cluster import KafkaCluster, decode_seq, describe_partitions, node_id_of
from rpochaos.kafka.observe import KafkaObserver, read_samples
from rpochaos.kafka.workload import KafkaWriter
from rpochaos.measure import Expectations, FinalRead, Measurement, measure
from rpochaos.proxy import Toxiproxy
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

#: shrink the ISR quickly, fence a dead broker quickly: the whole file stays under ~3 minutes
FAST = {"replica.lag.time.max.ms": "5000", "broker.session.timeout.ms": "3000"}
CUT_TO_CRASH_S = 3.0
Recorder = Callable[[str, object], None]
RATE = 200.0


@dataclass(frozen=True)
class Load:
    rate: float = RATE
    concurrency: int = 2
    duration: float = 60.0


@pytest.fixture(scope="module", autouse=True)
def kafka_installed() -> None:
    require(jars.java_bin)
    require(jars.kafka_classpath)
    require(deps.toxiproxy_server)


@dataclass
class Env:
    backend: Backend
    proxy: Toxiproxy
    run_dir: Path


def _docker_backend(run_dir: Path) -> Backend:
    from rpochaos.backends import engine
    from rpochaos.backends.docker import DockerBackend
    from rpochaos.images import resolve_images

    client = require(engine.client)
    return DockerBackend(
        run_dir, images=resolve_images(system="kafka", client=client), client=client
    )


@pytest.fixture
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """A local backend, or the docker one when parametrized with "docker" (indirect)."""
    kind = getattr(request, "param", "local")
    backend = _docker_backend(tmp_path) if kind == "docker" else LocalBackend(tmp_path)
    try:
        proxy = start_proxy(backend)
        try:
            yield Env(backend, proxy, tmp_path)
        finally:
            proxy.close()
    finally:
        backend.close()
        backend.remove_data()


def cluster_of(env: Env, n: int, min_isr: int = 1) -> KafkaCluster:
    """``n`` brokers, replication factor ``n``, clean elections only, the FAST settings."""
    return KafkaCluster(
        n,
        replication_factor=n,
        min_insync_replicas=min_isr,
        unclean_leader_election=False,
        backend=env.backend,
        proxy=env.proxy,
        data_dir=env.backend.data_root() if env.backend.name == "local" else None,
        settings=FAST,
    )


def independent_read(cluster: KafkaCluster) -> frozenset[int]:
    """(c): a plain KafkaConsumer, no group, every partition from the beginning to the end."""
    # imported here, after rpochaos.kafka has imported kafka-python without its warnings
    from kafka import KafkaConsumer, TopicPartition  # type: ignore[import-untyped]

    consumer = KafkaConsumer(
        bootstrap_servers=cluster.bootstrap(),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
        request_timeout_ms=10000,
    )
    try:
        tps = [TopicPartition(cluster.topic, p) for p in range(cluster.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        seen: set[int] = set()
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, "independent consumer did not reach the end"
            for msgs in consumer.poll(timeout_ms=500).values():
                for m in msgs:
                    if m.offset < ends[TopicPartition(m.topic, m.partition)]:
                        seq = decode_seq(m.value)
                        assert seq is not None, f"message without a seq: {m.value!r}"
                        seen.add(seq)
        return frozenset(seen)
    finally:
        consumer.close()


def wait_new_leader(cluster: KafkaCluster, old: str, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        leader = cluster.leader_of(0)
        if leader is not None and leader != old:
            return leader
        time.sleep(0.2)
    raise AssertionError(f"no new leader within {timeout_s:g} s after {old} died")


def acked(ops: list[Op]) -> frozenset[int]:
    return frozenset(o.seq for o in ops if o.outcome is Outcome.OK)


# -- bring-up ---------------------------------------------------------------------------------


BACKENDS = pytest.mark.parametrize("env", ["local", "docker"], indirect=True)


@BACKENDS
def test_one_broker_round_trip_crash_and_recover(env: Env, record_property: Recorder) -> None:
    cluster = cluster_of(env, 1)
    t0 = time.monotonic()
    cluster.start()
    took = time.monotonic() - t0
    print(f"\n1 broker up ({env.backend.name}) in {took:.2f} s: {cluster.timings}")
    record_property("bringup_s", round(took, 3))
    try:
        assert cluster.version() == f"Apache Kafka {jars.kafka_version()} (KRaft)"
        assert list(cluster.link_ports) == ["client->broker1"]
        d = cluster.durability()
        assert d["min.insync.replicas"] == "1"
        assert d["unclean.leader.election.enable"] == "false"
        assert d["replica.lag.time.max.ms"] == "5000"
        assert d["replication_factor"] == 1
        clock = Clock()
        with Journal(env.run_dir / "history.jsonl") as journal:
            writer = KafkaWriter(
                cluster.client_endpoints(),
                Load(rate=100, concurrency=1),
                journal,
                clock,
                acks=1,
                enable_idempotence=False,
            )
            writer.start()
            clock.sleep_until(1.5)
            writer.stop_issuing()
            assert writer.join(10.0)
        ops = read_history(env.run_dir / "history.jsonl")
        assert len(ops) >= 100
        assert all(o.outcome is Outcome.OK and o.node == "broker1" for o in ops), ops[:3]
        assert writer.acknowledged == len(ops)
        assert cluster.read_seqs() == acked(ops)
        # SIGKILL is not power loss: the page cache survives, log recovery keeps every ack
        cluster.crash("broker1")
        assert cluster.leader_of(0) is None  # its only proxy is disabled with it
        cluster.recover("broker1")
        cluster.wait_leaders()
        read = cluster.read_topic()
        assert read.seqs == acked(ops)
        assert (read.duplicates, read.unparsed) == (0, 0)
    finally:
        cluster.close()


@BACKENDS
def test_three_brokers_come_up_wired_through_proxies(env: Env, record_property: Recorder) -> None:
    cluster = cluster_of(env, 3)
    t0 = time.monotonic()
    cluster.start()
    took = time.monotonic() - t0
    print(f"\n3 brokers (RF 3, {env.backend.name}) up in {took:.2f} s: {cluster.timings}")
    record_property("bringup_s", round(took, 3))
    try:
        (state,) = cluster.partition_states()
        assert state.leader is not None
        assert set(state.isr) == set(state.replicas) == {"broker1", "broker2", "broker3"}
        assert len(cluster.link_ports) == 3 + 3 * 2 * 2
        assert sorted(cluster.fetch_links_of("broker1")) == ["broker2->broker1", "broker3->broker1"]
        assert sorted(cluster.links_of("broker2")) == sorted(
            [
                "client->broker2",
                "broker1->broker2",
                "broker3->broker2",
                "broker2->broker1",
                "broker2->broker3",
                "broker1->controller2",
                "broker3->controller2",
                "broker2->controller1",
                "broker2->controller3",
            ]
        )
        # clients are told the proxies' addresses, never the brokers' own ports
        with cluster._admin() as admin:
            brokers = admin.describe_cluster()["brokers"]
        advertised = {(str(b["host"]), int(b["port"])) for b in brokers}
        assert advertised == {(e.host, e.port) for e in cluster.client_endpoints()}
        assert all(e.node == f"broker{i}" for i, e in enumerate(cluster.client_endpoints(), 1))
        behind = {cluster.links[f"client->{n}"].upstream.rsplit(":", 1)[1] for n in cluster.names}
        assert not any(str(p) in behind for _, p in advertised)
        # the quorum goes through the proxies: cut one non-controller node off the
        # controllers and the active controller fences it (broker.session.timeout.ms=3000),
        # which drops it from the ISR (as the active controller's metadata says)
        active = cluster.active_controller()
        assert active is not None
        victim = next(n for n in cluster.names if n != active)
        cut = [Partition(env.proxy, lk, mode="reset") for lk in cluster.quorum_links_of(victim)]
        for f in cut:
            f.inject()
        try:
            deadline = time.monotonic() + 20
            while True:
                with cluster._admin() as admin:
                    (seen,) = describe_partitions(admin, cluster.topic, node_id_of(active))
                if victim not in seen.isr:
                    break
                assert time.monotonic() < deadline, f"{victim} was never fenced"
                time.sleep(0.2)
        finally:
            for f in cut:
                f.heal()
        cluster.wait_registered([victim], timeout_s=30)
        cluster.wait_in_sync(timeout_s=30)
    finally:
        cluster.close()


# -- the ground truth -------------------------------------------------------------------------


@dataclass
class Outcome3:
    m: Measurement
    ops: list[Op]
    t_cut: float
    t_crash: float
    old: str
    new: str
    final: frozenset[int]
    independent: frozenset[int]
    samples: list[dict[str, object]]


def cut_then_kill(env: Env, *, acks: int | str, idempotence: bool, min_isr: int) -> Outcome3:
    """3 brokers RF 3; produce; cut every follower's fetch link from the leader; kill the
    leader (links cut) CUT_TO_CRASH_S later; wait for a follower to lead; produce 3 s more;
    final read (and an independent one); measure against an RPO of 1 s."""
    cluster = cluster_of(env, 3, min_isr)
    cluster.start()
    try:
        clock = Clock()
        history = env.run_dir / "history.jsonl"
        observer = KafkaObserver(
            cluster.client_endpoints(), cluster.topic, env.run_dir / "observe.jsonl", clock
        )
        with Journal(history) as journal:
            writer = KafkaWriter(
                cluster.client_endpoints(),
                Load(),
                journal,
                clock,
                acks=acks,
                enable_idempotence=idempotence,
                request_timeout_s=3.0,
                delivery_timeout_s=6.0,
            )
            writer.start()
            observer.start()
            faults: list[Partition] = []
            try:
                clock.sleep_until(2.0)
                old = cluster.leader_of(0)
                assert old is not None
                faults = [Partition(env.proxy, lk) for lk in cluster.fetch_links_of(old)]
                for f in faults:
                    f.inject()
                t_cut = clock.now()
                clock.sleep_until(t_cut + CUT_TO_CRASH_S)
                t_crash = clock.now()
                cluster.crash(old)
                new = wait_new_leader(cluster, old)
                clock.sleep_until(clock.now() + 3.0)
            finally:
                writer.stop_issuing()
                assert writer.join(20.0)
                observer.stop()
                for f in faults:
                    f.heal()
        final = cluster.read_topic()
        assert (final.unparsed, final.hw_below_leo) == (0, {})
        independent = independent_read(cluster)
        ops = read_history(history)
        m = measure(ops, FinalRead(new, final.seqs, clock.now()), t_crash, Expectations(rpo_s=1.0))
        samples = read_samples(env.run_dir / "observe.jsonl")
        print(
            f"\nacks={acks} min.insync={min_isr}: lost {m.lost} of {m.acknowledged} "
            f"acknowledged (attempted {m.attempted}), window {m.data_loss_window_s} s, "
            f"RTO {m.rto_s} s, leader {old} -> {new}, verdict {m.verdict.value}"
        )
        return Outcome3(m, ops, t_cut, t_crash, old, new, final.seqs, independent, samples)
    finally:
        cluster.close()


def test_acks1_leader_cut_then_killed_loses_acknowledged_messages(
    env: Env, record_property: Recorder
) -> None:
    r = cut_then_kill(env, acks=1, idempotence=False, min_isr=1)
    m = r.m
    record_property("lost", m.lost)
    record_property("acknowledged", m.acknowledged)
    assert m.unexpected == 0
    assert m.lost > 0, "acks=1 with the leader cut off and killed must lose acknowledged writes"
    # everything acknowledged between the cut and the kill is gone: ~ rate x 3 s
    assert m.lost >= 0.5 * RATE * CUT_TO_CRASH_S
    assert m.data_loss_window_s is not None
    assert abs(m.data_loss_window_s - CUT_TO_CRASH_S) <= 1.0, m.data_loss_window_s
    assert m.verdict.value == "FAIL"
    # the lost ones were acknowledged by the old leader, after the cut
    lost_ops = [o for o in r.ops if o.seq in set(m.lost_seqs)]
    assert {o.node for o in lost_ops} == {r.old}
    assert all(o.complete_s is not None and o.complete_s >= r.t_cut - 0.5 for o in lost_ops)
    # writes continue on the new leader
    assert m.rto_s is not None
    # the observer saw the followers stop: the old leader's log end moved past theirs
    behind = [
        p
        for s in r.samples
        if s.get("ok")
        for p in s["partitions"]  # type: ignore[attr-defined]
        if p["leader"] == r.old
        and all(
            (p["replica_leo"].get(f) or 0) < (p["log_end_offset"] or 0)
            for f in p["replicas"]
            if f != r.old
        )
        and (p["log_end_offset"] or 0) - (p["high_watermark"] or 0) > 50
    ]
    assert behind, "no observer sample showed the followers behind the cut-off leader"
    # (c) an independent consumer agrees with the final read
    assert r.independent == r.final


def test_acks_all_min_isr2_loses_nothing_and_stalls_instead(
    env: Env, record_property: Recorder
) -> None:
    r = cut_then_kill(env, acks="all", idempotence=True, min_isr=2)
    m = r.m
    record_property("lost", m.lost)
    record_property("acknowledged", m.acknowledged)
    assert (m.lost, m.unexpected) == (0, 0)
    assert m.acknowledged > 0
    assert m.verdict.value == "PASS"
    # unavailable instead: nothing was acknowledged while the followers were cut off
    during = [
        o
        for o in r.ops
        if o.outcome is Outcome.OK
        and o.complete_s is not None
        and r.t_cut + 0.5 <= o.complete_s <= r.t_crash
    ]
    assert during == [], during[:3]
    # (c) an independent consumer agrees with the final read
    assert r.independent == r.final
