"""A Kafka cluster in KRaft combined mode (every node is broker + controller), every link
through Toxiproxy. See docs/kafka.md for the full wiring table.

Nodes are ``broker1``..``brokerN`` with ``node.id`` 1..N. Each node binds, on loopback:

- ``CLIENT``: producers, consumers, the admin client and the observer. Advertised as the
  proxy ``client->brokerA``, so every client connection to broker A goes through that proxy
  (the bootstrap list is those proxies too).
- ``FROM_BROKER<B>`` for every node B (one listener, one real port each): the inter-broker
  listener that broker B uses when it talks to this node. Node B runs with
  ``inter.broker.listener.name=FROM_BROKER<B>``, so when B follows a partition led by A it
  looks up A's ``FROM_BROKER<B>`` endpoint, which A advertises as the proxy ``brokerB->brokerA``.
  Hence one proxy per *directed* replication link: ``brokerB->brokerA`` carries follower B's
  fetches from leader A (and any other inter-broker request B sends to A). A node's own
  ``FROM_BROKER<A>`` listener advertises its real port (a node never fetches from itself).
- ``CONTROLLER``: the KRaft quorum. ``controller.quorum.voters`` is written per node: in node
  B's file, voter A's address is the proxy ``brokerB->controllerA`` (its own entry is its real
  port). So ``brokerB->controllerA`` carries everything node B sends to A's controller role:
  Raft Vote/Fetch/BeginQuorumEpoch traffic of B's controller role, and B's broker-role
  registration, heartbeats and AlterPartition (ISR changes) when A is the active controller.

Cutting ``brokerB->brokerA`` for every B stops the followers fetching from A (A's ISR then
shrinks after ``replica.lag.time.max.ms``, decided by A and sent to the controller over
``brokerA->controllerX``). ``links_of(A)`` is every proxy to or from A: disabling them all
isolates A completely.

Bring-up: create the proxies (listen port 0, so the real ports they got go into the
configuration files), write each node's ``server.properties``, format each node's storage
with ``kafka.tools.StorageTool format`` and one cluster id (in parallel), start the JVMs
(``kafka.Kafka``), wait until every broker is registered and unfenced, create the topic with
the requested replication factor, and wait until every partition has a leader and all its
replicas in the ISR.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kafka.errors import KafkaError  # type: ignore[import-untyped]

from rpochaos.backends.base import Backend, Endpoint, LinkAddress
from rpochaos.errors import RpochaosError, TopologyError
from rpochaos.images import KAFKA_LIBS_IN_IMAGE
from rpochaos.kafka import jars
from rpochaos.kafka.final_read import TopicRead, read_topic
from rpochaos.kafka.metadata import (
    admin_client,
    describe_partitions,
    durability_in_force,
    end_offsets,
    list_offsets,
)
from rpochaos.kafka.names import link_ends, link_names, node_id_of, node_name
from rpochaos.kafka.node import JVM_OPTS, KafkaNode
from rpochaos.kafka.payload import decode_seq, encode_payload, partition_of
from rpochaos.kafka.queries import KafkaQueries
from rpochaos.kafka.wiring import create_proxies
from rpochaos.proxy import Toxiproxy
from rpochaos.waiting import wait_until

# the cluster, and the names importers have always taken from here (defined in the modules above)
__all__ = [
    "Endpoint",
    "KafkaCluster",
    "admin_client",
    "decode_seq",
    "describe_partitions",
    "encode_payload",
    "link_names",
    "list_offsets",
    "node_id_of",
    "node_name",
    "partition_of",
]

CLIENT_LISTENER = "CLIENT"
CONTROLLER_LISTENER = "CONTROLLER"


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID, URL-safe base64 without padding (22 chars)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _bool_setting(v: str | bool) -> str:
    """A Kafka boolean property: ``True`` -> "true", ``False`` -> "false", text as given."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


class KafkaCluster(KafkaQueries):
    """N brokers (KRaft combined mode), one topic, and the proxies between them and clients:
    bring-up (``start``), node faults (``crash``, ``recover``, the links of a node), the
    durability read-back and the final read; the queries and waits are ``KafkaQueries``'."""

    def __init__(
        self,
        n_brokers: int,
        replication_factor: int,
        min_insync_replicas: int,
        unclean_leader_election: bool,
        backend: Backend,
        proxy: Toxiproxy,
        data_dir: Path | None = None,
        topic: str = "rpochaos",
        partitions: int = 1,
        settings: Mapping[str, str] | None = None,
        jvm_opts: Sequence[str] = JVM_OPTS,
        node_env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        if n_brokers < 1:
            raise ValueError(f"n_brokers must be >= 1, got {n_brokers}")
        if not 1 <= replication_factor <= n_brokers:
            raise ValueError(
                f"replication_factor must be between 1 and n_brokers={n_brokers}, "
                f"got {replication_factor}"
            )
        if min_insync_replicas < 1:
            raise ValueError(f"min_insync_replicas must be >= 1, got {min_insync_replicas}")
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        self.n_brokers = n_brokers
        self.replication_factor = replication_factor
        self.min_insync_replicas = min_insync_replicas
        self.unclean_leader_election = unclean_leader_election
        self.backend = backend
        self.proxy = proxy
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.node_env = {k: dict(v) for k, v in (node_env or {}).items()}
        self.topic = topic
        self.partitions = partitions
        self.settings = dict(settings or {})
        self.jvm_opts = list(jvm_opts)
        self.nodes: dict[str, KafkaNode] = {}
        self.links: dict[str, LinkAddress] = {}  # link name -> its addresses
        self.link_ports: dict[str, int] = {}  # link name -> proxy listen port
        self.cluster_id = new_cluster_id()
        self.timings: dict[str, float] = {}  # bring-up phases, seconds
        self._version: str | None = None

    # -- bring-up ------------------------------------------------------------------------
    def broker_settings(self, node: KafkaNode) -> dict[str, str]:
        """The complete server.properties of ``node`` (the scenario's ``settings`` last).
        Every endpoint another node or a client is told about is a proxy (see the module
        docstring); a node's own entries are its real ports."""
        me = node.node_id
        ids = range(1, self.n_brokers + 1)
        bind, own = node.bind_host, node.own_host
        client = self.links[f"client->{node.name}"].harness
        assert client is not None
        listeners = [f"{CLIENT_LISTENER}://{bind}:{node.client_port}"]
        listeners.append(f"{CONTROLLER_LISTENER}://{bind}:{node.controller_port}")
        advertised = [f"{CLIENT_LISTENER}://{client}"]
        for b in ids:
            listener = f"FROM_BROKER{b}"
            listeners.append(f"{listener}://{bind}:{node.inter_ports[b]}")
            if b == me:
                advertised.append(f"{listener}://{own}:{node.inter_ports[b]}")
            else:
                advertised.append(f"{listener}://{self.links[f'broker{b}->{node.name}'].peer}")
        voters = []
        for a in ids:
            if a == me:
                voters.append(f"{a}@{own}:{node.controller_port}")
            else:
                voters.append(f"{a}@{self.links[f'{node.name}->controller{a}'].peer}")
        protocols = [f"{CLIENT_LISTENER}:PLAINTEXT", f"{CONTROLLER_LISTENER}:PLAINTEXT"]
        protocols += [f"FROM_BROKER{b}:PLAINTEXT" for b in ids]
        internal_rf = str(min(3, self.n_brokers))
        s: dict[str, str] = {
            "process.roles": "broker,controller",
            "node.id": str(me),
            "controller.quorum.voters": ",".join(voters),
            "controller.listener.names": CONTROLLER_LISTENER,
            "listeners": ",".join(listeners),
            "advertised.listeners": ",".join(advertised),
            "inter.broker.listener.name": f"FROM_BROKER{me}",
            "listener.security.protocol.map": ",".join(protocols),
            "log.dirs": node.log_dir,
            # the durability knobs this cluster declares
            "min.insync.replicas": str(self.min_insync_replicas),
            "unclean.leader.election.enable": _bool_setting(self.unclean_leader_election),
            "default.replication.factor": str(self.replication_factor),
            # small footprint: three brokers in a few GB, fast start on 2 cores
            "log.cleaner.dedupe.buffer.size": str(2 * 1024 * 1024),
            "log.cleaner.threads": "1",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.replica.fetchers": "1",
            "background.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
            "num.partitions": str(self.partitions),
            "offsets.topic.replication.factor": internal_rf,
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": internal_rf,
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            "broker.heartbeat.interval.ms": "500",
            "auto.create.topics.enable": "false",
        }
        s.update(self.settings)
        return s

    def start(self, timeout_s: float = 90.0) -> None:
        t0 = time.monotonic()
        if self.backend.name == "local":
            classpath, libs = jars.kafka_classpath(), str(jars.libs_dir())
        else:  # the official apache/kafka image and rpochaos/kafka keep them here
            classpath, libs = f"{KAFKA_LIBS_IN_IMAGE}/*", KAFKA_LIBS_IN_IMAGE
        ids = range(1, self.n_brokers + 1)
        for i in ids:
            name = node_name(i)
            handle = self.backend.node(
                name, data_dir=self.data_dir / name if self.data_dir else None, kind="kafka"
            )
            ports = handle.more_ports(1 + self.n_brokers)
            self.nodes[name] = KafkaNode(
                handle,
                controller_port=ports[0],
                inter_ports={b: ports[b] for b in ids},
                classpath=classpath,
                libs=libs,
                jvm_opts=self.jvm_opts,
                env=self.node_env.get(name),
            )
        with ThreadPoolExecutor(max_workers=self.n_brokers) as pool:
            for f in [pool.submit(n.node.prepare) for n in self.nodes.values()]:
                f.result()
        # the proxies first: their addresses go into the configuration files
        for link, addr in create_proxies(self.backend, self.proxy, self.nodes, self.n_brokers):
            self.links[link] = addr
            self.link_ports[link] = addr.listen_port
        t1 = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.n_brokers) as pool:
            jobs = [
                pool.submit(n.format, self.broker_settings(n), self.cluster_id)
                for n in self.nodes.values()
            ]
            for f in jobs:
                f.result()
        t2 = time.monotonic()
        for node in self.nodes.values():
            node.spawn()
        for node in self.nodes.values():
            node.wait_listening(timeout_s)
        self.wait_registered(timeout_s=timeout_s)
        t3 = time.monotonic()
        self.create_topic(timeout_s=timeout_s)
        self.wait_in_sync(timeout_s=timeout_s)
        t4 = time.monotonic()
        self.timings = {
            "configure_s": round(t1 - t0, 3),
            "format_s": round(t2 - t1, 3),
            "brokers_registered_s": round(t3 - t2, 3),
            "topic_in_sync_s": round(t4 - t3, 3),
            "total_s": round(t4 - t0, 3),
        }

    def create_topic(self, timeout_s: float = 60.0) -> None:
        def probe() -> bool:
            with self._admin() as admin:
                if self.topic in admin.list_topics():
                    return True
                admin.create_topics(
                    {
                        self.topic: {
                            "num_partitions": self.partitions,
                            "replication_factor": self.replication_factor,
                        }
                    },
                    timeout_ms=5000,
                )
            return True

        wait_until(
            f"topic {self.topic!r} was not created", timeout_s, probe, self._logs, KafkaError
        )

    # -- the surface the orchestrator uses -----------------------------------------------
    def durability(self) -> dict[str, object]:
        """The durability settings in force, read back from the brokers (broker configs of
        the partition-0 leader, and the topic's effective configs); the producer's acks and
        enable.idempotence belong to the workload."""
        out: dict[str, object]
        try:
            with self._admin() as admin:
                out = durability_in_force(admin, self.topic, self.names[0])
        except (KafkaError, OSError, RpochaosError, KeyError) as e:
            out = {
                "min.insync.replicas": str(self.min_insync_replicas),
                "unclean.leader.election.enable": _bool_setting(self.unclean_leader_election),
                "replication_factor": self.replication_factor,
                "read_from": f"configured values (read-back failed: {type(e).__name__}: {e})",
            }
            for k in ("replica.lag.time.max.ms", "log.flush.interval.messages"):
                if k in self.settings:
                    out[k] = self.settings[k]
        out["partitions"] = self.partitions
        out["brokers"] = self.n_brokers
        return out

    def version(self) -> str:
        if self._version is None:
            got = next((n.version for n in self.nodes.values() if n.version), None)
            self._version = f"Apache Kafka {got or 'unknown version'} (KRaft)"
        return self._version

    def links_of(self, name: str) -> list[str]:
        """Every proxied link that starts or ends at node ``name``: its client proxy, the
        replication links in both directions, and the quorum links in both directions."""
        return [lk for lk in self.link_ports if name in link_ends(lk)]

    def fetch_links_of(self, leader: str) -> list[str]:
        """The links followers fetch from ``leader`` through: ``brokerB->leader`` for every
        other broker B. Cutting them all stops replication out of ``leader``."""
        return [f"{b}->{leader}" for b in self.names if b != leader]

    def quorum_links_of(self, name: str) -> list[str]:
        """The controller-quorum links to and from ``name``."""
        return [lk for lk in self.link_ports if "->controller" in lk and name in link_ends(lk)]

    def crash(
        self, name: str, cut_links: bool = True, on_down: Callable[[], None] | None = None
    ) -> None:
        """SIGKILL ``name``; with ``cut_links`` also disable every proxy to and from it at
        once, dropping what was still in flight (the host died with it)."""
        self.nodes[name].crash()
        if on_down is not None:  # every process is dead: nothing more can be acknowledged
            on_down()
        if cut_links:
            self.proxy.set_all_enabled(self.links_of(name), False)

    def recover(self, name: str, timeout_s: float = 60.0) -> None:
        """Undo ``crash``: re-enable the node's links, restart it (log recovery), and wait
        until it is registered and unfenced again."""
        self.proxy.set_all_enabled(self.links_of(name), True)
        self.nodes[name].restart()
        self.wait_registered([name], timeout_s=timeout_s)

    # -- the final read ------------------------------------------------------------------
    def _end_offsets(self, leaders: Mapping[int, str], *, log_end: bool) -> dict[int, int]:
        with self._admin() as admin:
            return end_offsets(admin, self.topic, leaders, log_end=log_end)

    def settle(self, timeout_s: float = 15.0) -> dict[int, tuple[int, int]]:
        """Wait (bounded) until every partition leader's high watermark reached its log end
        offset, so that a read up to the high watermark sees everything the leader holds.
        Returns the partitions where it did not, as partition -> (hw, leo)."""
        deadline = time.monotonic() + timeout_s
        behind: dict[int, tuple[int, int]] = {}
        while True:
            try:
                leaders = self.wait_leaders(timeout_s=max(1.0, deadline - time.monotonic()))
                hw = self._end_offsets(leaders, log_end=False)
                leo = self._end_offsets(leaders, log_end=True)
                behind = {
                    p: (hw.get(p, -1), leo.get(p, -1))
                    for p in leaders
                    if hw.get(p, -1) < leo.get(p, -1) or p not in hw
                }
                if not behind:
                    return {}
            except (KafkaError, OSError, TopologyError):
                behind = {p: (-1, -1) for p in range(self.partitions)}
            if time.monotonic() >= deadline:
                return behind
            time.sleep(0.2)

    def read_topic(self, timeout_s: float = 60.0, settle_s: float = 15.0) -> TopicRead:
        """Consume every partition from the beginning up to its high watermark and collect
        the sequence numbers in the payloads (never offsets: they are reused after a
        truncation). Waits first until every partition has a leader (TopologyError if one
        stays offline: the read could not be trusted) and, bounded by ``settle_s``, until
        each leader's high watermark has reached its log end offset."""
        behind = self.settle(settle_s)
        leaders = self.wait_leaders(timeout_s=min(timeout_s, 30.0))
        return read_topic(
            self.bootstrap(),
            self.topic,
            sorted(leaders),
            timeout_s=timeout_s,
            leaders=dict(leaders),
            hw_below_leo=behind,
        )

    def read_seqs(self, node_name: str | None = None, timeout_s: float = 60.0) -> frozenset[int]:
        """Every sequence number present in the topic after recovery (all partitions).
        ``node_name`` is accepted for symmetry with PostgresCluster and ignored: the topic is
        read through the client proxies, from whichever brokers lead its partitions."""
        del node_name
        return self.read_topic(timeout_s=timeout_s).seqs

    def close(self) -> None:
        for node in reversed(list(self.nodes.values())):
            node.crash()
