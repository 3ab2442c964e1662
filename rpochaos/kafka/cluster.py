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
import contextlib
import json
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from kafka import errors as kafka_errors
from kafka.admin import ConfigResource, ConfigResourceType  # type: ignore[import-untyped]
from kafka.errors import KafkaError  # type: ignore[import-untyped]
from kafka.protocol.consumer.offsets import ListOffsetsRequest  # type: ignore[import-untyped]
from kafka.protocol.metadata import MetadataRequest  # type: ignore[import-untyped]

from rpochaos.backends.base import Backend, LinkAddress, Node
from rpochaos.errors import RpochaosError, TopologyError
from rpochaos.images import KAFKA_LIBS_IN_IMAGE
from rpochaos.kafka import jars
from rpochaos.proxy import Toxiproxy
from rpochaos.scenario import kafka_link_names
from rpochaos.waiting import wait_until

T = TypeVar("T")

CLIENT_LISTENER = "CLIENT"
CONTROLLER_LISTENER = "CONTROLLER"
#: JVM options of every broker: three brokers must fit in a few GB
JVM_OPTS: tuple[str, ...] = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
)
#: the StorageTool is a short-lived JVM: small heap, no JIT tiers beyond C1
FORMAT_JVM_OPTS: tuple[str, ...] = ("-Xms64m", "-Xmx256m", "-XX:TieredStopAtLevel=1")
#: broker settings reported as 'in force' by durability(), read back from a broker
DURABILITY_SETTINGS: tuple[str, ...] = (
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "replica.lag.time.max.ms",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "default.replication.factor",
)
#: ListOffsets replica id of a "debugging consumer": any replica answers, up to its log end
_DEBUG_REPLICA_ID = -2
_LATEST = -1

LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.org.apache.kafka.clients.NetworkClient=WARN
"""


# -- names and payloads -----------------------------------------------------------------------


def node_name(node_id: int) -> str:
    return f"broker{node_id}"


def node_id_of(name: str) -> int:
    """``broker3`` -> 3 (also ``controller3`` -> 3)."""
    for prefix in ("broker", "controller"):
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return int(name[len(prefix) :])
    raise ValueError(f"not a Kafka node name: {name!r} (expected broker<N>)")


def link_names(n_brokers: int) -> list[str]:
    """Every proxied link of an ``n_brokers`` cluster, in creation order:
    ``client->brokerA``; then for each ordered pair B != A, ``brokerB->brokerA`` (follower B
    fetching from leader A) and ``brokerB->controllerA`` (node B to A's controller role).
    The scenario validator's list, which is this one."""
    return list(kafka_link_names(n_brokers))


def link_ends(link: str) -> tuple[str, str]:
    """The two nodes of a link: ``broker2->controller1`` -> ("broker2", "broker1");
    ``client->broker1`` -> ("client", "broker1")."""
    src, _, dst = link.partition("->")
    if dst.startswith("controller"):
        dst = node_name(node_id_of(dst))
    return src, dst


def partition_of(seq: int, partitions: int) -> int:
    """The partition the writer sends message ``seq`` to (explicitly, never the
    partitioner's choice): per-partition measurement filters the journal with this."""
    return seq % partitions


def encode_payload(seq: int) -> bytes:
    """The value of message ``seq``: a small JSON object carrying the sequence number."""
    return json.dumps({"seq": seq, "by": "rpochaos"}, separators=(",", ":")).encode()


def decode_seq(value: bytes | None) -> int | None:
    """The sequence number in a message value, or None if it carries none."""
    if value is None:
        return None
    try:
        obj = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    seq = obj.get("seq") if isinstance(obj, dict) else None
    if isinstance(seq, int) and not isinstance(seq, bool):
        return seq
    return None


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID, URL-safe base64 without padding (22 chars)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


# -- small data types -------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """An address the workload connects to, and the node behind it."""

    host: str
    port: int
    node: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class PartitionState:
    partition: int
    leader: str | None  # None: no leader (offline)
    replicas: tuple[str, ...]
    isr: tuple[str, ...]


@dataclass(frozen=True)
class TopicRead:
    """What a final read found: sequence numbers per partition, and how it went."""

    topic: str
    seqs_by_partition: dict[int, frozenset[int]]
    end_offsets: dict[int, int]  # high watermark per partition at the time of the read
    leaders: dict[int, str | None]
    records: int  # messages read
    duplicates: int  # messages whose seq was already read (a retry without idempotence)
    unparsed: int  # messages with no sequence number in their value (must be 0)
    hw_below_leo: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def seqs(self) -> frozenset[int]:
        out: set[int] = set()
        for s in self.seqs_by_partition.values():
            out |= s
        return frozenset(out)


# -- helpers ----------------------------------------------------------------------------------


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _properties(settings: Mapping[str, str]) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace("\n", "\\n")

    return "".join(f"{k}={esc(v)}\n" for k, v in settings.items())


def _bool_setting(v: str | bool) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


@contextlib.contextmanager
def admin_client(bootstrap: Sequence[str], timeout_s: float = 5.0) -> Iterator[Any]:
    """A kafka-python admin client with bounded timeouts, closed on exit."""
    ms = max(500, int(timeout_s * 1000))
    admin = KafkaAdminClient(
        bootstrap_servers=list(bootstrap),
        client_id="rpochaos-admin",
        request_timeout_ms=ms,
        bootstrap_timeout_ms=ms,
        reconnect_backoff_ms=50,
        reconnect_backoff_max_ms=1000,
        metadata_max_age_ms=1000,
    )
    try:
        yield admin
    finally:
        with contextlib.suppress(Exception):
            admin.close()


def describe_partitions(admin: Any, topic: str, node_id: int | None = None) -> list[PartitionState]:
    """Leader, replicas and ISR of every partition of ``topic`` (a metadata request), as
    broker ``node_id`` sees them, or any broker when None."""
    if node_id is None:
        topics = admin.describe_topics([topic])
    else:
        request = MetadataRequest(
            topics=[MetadataRequest.MetadataRequestTopic(name=topic)],
            allow_auto_topic_creation=False,
        )

        async def send() -> Any:
            return await admin._manager.send(request, node_id=node_id)

        topics = admin._manager.run(send).to_dict()["topics"]
    out: list[PartitionState] = []
    for t in topics:
        if t.get("name") != topic:
            continue
        if t.get("error_code", 0) != 0:
            err = kafka_errors.for_code(int(t["error_code"]))
            raise err(f"metadata of topic {topic!r}")
        for p in t.get("partitions", []):
            leader = int(p["leader_id"])
            out.append(
                PartitionState(
                    partition=int(p["partition_index"]),
                    leader=node_name(leader) if leader >= 0 else None,
                    replicas=tuple(node_name(int(r)) for r in p["replica_nodes"]),
                    isr=tuple(node_name(int(r)) for r in p["isr_nodes"]),
                )
            )
    return sorted(out, key=lambda s: s.partition)


def list_offsets(
    admin: Any, node_id: int, topic: str, partitions: Sequence[int], *, log_end: bool
) -> dict[int, int]:
    """Latest offsets of ``partitions`` as broker ``node_id`` sees them. ``log_end=False``: the
    high watermark (what consumers may read; the broker must lead the partition).
    ``log_end=True``: the replica's log end offset, asked as a debugging consumer (replica id
    -2), which any replica answers. Partitions that answer with an error are left out."""
    req_topic = ListOffsetsRequest.ListOffsetsTopic
    req_part = req_topic.ListOffsetsPartition
    request = ListOffsetsRequest(
        replica_id=_DEBUG_REPLICA_ID if log_end else -1,
        isolation_level=0,
        topics=[
            req_topic(
                name=topic,
                partitions=[req_part(partition_index=p, timestamp=_LATEST) for p in partitions],
            )
        ],
    )

    async def send() -> Any:
        return await admin._manager.send(request, node_id=node_id)

    response = admin._manager.run(send)
    out: dict[int, int] = {}
    for t in response.topics:
        for p in t.partitions:
            if p.error_code == 0:
                out[int(p.partition_index)] = int(p.offset)
    return out


# -- one node ---------------------------------------------------------------------------------


class KafkaNode:
    """One JVM running ``kafka.Kafka`` as broker + controller, on a backend ``Node`` of kind
    "kafka" (host processes locally, a container on docker)."""

    def __init__(
        self,
        node: Node,
        controller_port: int,
        inter_ports: dict[int, int],
        classpath: str,
        libs: str,
        jvm_opts: Sequence[str] = JVM_OPTS,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.node = node
        self.name = node.name
        self.node_id = node_id_of(node.name)
        self.client_port = node.port
        self.controller_port = controller_port
        self.inter_ports = inter_ports  # node id B -> real port of listener FROM_BROKER<B>
        self.classpath = classpath
        self.libs = libs  # the directory of the jars, as the node sees it
        self.jvm_opts = list(jvm_opts)
        self.env = dict(env or {})
        self.datadir = node.datadir
        self.config_path = f"{self.datadir}/server.properties"
        self.log4j_path = f"{self.datadir}/log4j.properties"
        self.log_dir = f"{self.datadir}/log"
        self.settings: dict[str, str] = {}
        self.started = False
        self.version: str | None = None  # from the kafka_2.13-<v>.jar the node runs

    @property
    def port(self) -> int:
        """The real client port (the one ``client->brokerN`` forwards to)."""
        return self.client_port

    @property
    def bind_host(self) -> str:
        """The address its listeners bind."""
        return "0.0.0.0" if self.node.listen_host == "*" else self.node.listen_host

    @property
    def own_host(self) -> str:
        """How the node names itself (its own, unproxied, advertised endpoints): loopback
        locally, its network alias on docker."""
        return self.node.name if self.node.listen_host == "*" else self.node.listen_host

    def _java(self, main: str, *args: str, jvm_opts: Sequence[str] | None = None) -> list[str]:
        return [
            self.node.program("java"),
            *(self.jvm_opts if jvm_opts is None else jvm_opts),
            f"-Dlog4j.configuration=file:{self.log4j_path}",
            f"-Dkafka.logs.dir={self.datadir}",
            "-cp",
            self.classpath,
            main,
            *args,
        ]

    def format(
        self, settings: Mapping[str, str], cluster_id: str, timeout_s: float = 120.0
    ) -> None:
        """Write server.properties and log4j.properties into the data directory and format
        the storage with ``cluster_id`` (one one-shot command where the node runs)."""
        self.settings = dict(settings)
        fmt = self._java(
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",  # an id may start with "-"
            "-c",
            self.config_path,
            jvm_opts=FORMAT_JVM_OPTS,
        )
        script = (
            'printf "%s" "$1" > "$3" && printf "%s" "$2" > "$4" && '
            'echo "rpochaos-jar: $(ls "$5" | grep "^kafka_2")" && shift 5 && exec "$@"'
        )
        out = self.node.run(
            [
                "sh",
                "-c",
                script,
                "sh",
                _properties(self.settings),
                LOG4J_PROPERTIES,
                self.config_path,
                self.log4j_path,
                self.libs,
                *fmt,
            ],
            timeout_s=timeout_s,
            what=f"kafka storage format of {self.name}",
        )
        for line in out.splitlines():
            if line.startswith("rpochaos-jar: kafka_"):
                self.version = line.rsplit("-", 1)[-1].removesuffix(".jar").strip()

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the JVM and wait until its client listener accepts connections. (Whether the
        broker is registered and unfenced is the cluster's to check.) The broker opens that
        listener only once the controller quorum answers, so a node of a multi-node cluster
        comes up only when a majority of nodes runs: start them all with ``spawn`` first."""
        self.spawn()
        self.wait_listening(timeout_s)

    def spawn(self) -> None:
        """Start the JVM; don't wait."""
        self.node.start(self._java("kafka.Kafka", self.config_path), env=self.env or None)
        self.started = True

    def wait_listening(self, timeout_s: float = 60.0) -> None:
        at = self.node.address

        def listening() -> bool:
            if self.started and not self.node.running():
                raise TopologyError(f"{self.name} exited during start-up\n{self.log_tail(40)}")
            return _tcp_open(at.host, at.port)

        wait_until(
            f"{self.name} did not listen on {at}", timeout_s, listening, self._log, KafkaError
        )

    def _log(self) -> str:
        return self.log_tail(40)

    def log_tail(self, lines: int = 20) -> str:
        return self.node.log_tail(lines) if self.started else "(not started)"

    def running(self) -> bool:
        return self.started and self.node.running()

    def crash(self) -> None:
        """SIGKILL the JVM (no controlled shutdown, no flush of the page cache needed)."""
        if self.started:
            self.node.kill()

    def stop(self, timeout_s: float = 20.0) -> None:
        """Controlled shutdown (SIGTERM), then kill if it takes longer than ``timeout_s``."""
        if self.started:
            self.node.stop(timeout_s=timeout_s, sig=signal.SIGTERM)

    def restart(self) -> None:
        if self.running():
            self.stop()
        else:
            self.crash()  # reap a killed process tree
        self.start()

    def pause(self) -> None:
        if self.started:
            self.node.pause()

    def resume(self) -> None:
        if self.started:
            self.node.resume()


# -- the cluster ------------------------------------------------------------------------------


class KafkaCluster:
    """N brokers (KRaft combined mode), one topic, and the proxies between them and clients."""

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
    @property
    def names(self) -> list[str]:
        return [node_name(i) for i in range(1, self.n_brokers + 1)]

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
        for link in link_names(self.n_brokers):
            src, dst = link_ends(link)
            target = self.nodes[dst]
            if src == "client":
                port = target.client_port
            elif link.split("->")[1].startswith("controller"):
                port = target.controller_port
            else:
                port = target.inter_ports[node_id_of(src)]
            addr = self.backend.link(link, target.node, harness=src == "client", port=port)
            self.proxy.create_proxy(link, addr.listen, addr.upstream)
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

    def bootstrap(self, *, exclude: Sequence[str] = ()) -> list[str]:
        """``host:port`` of every ``client->brokerN`` proxy (minus ``exclude``)."""
        return [e.address for e in self.client_endpoints() if e.node not in exclude]

    def _logs(self) -> str:
        return "\n".join(f"[{n.name}]\n{n.log_tail(15)}" for n in self.nodes.values())

    def _admin(self, timeout_s: float = 5.0) -> contextlib.AbstractContextManager[Any]:
        return admin_client(self.bootstrap(), timeout_s)

    def wait_registered(self, names: Sequence[str] | None = None, timeout_s: float = 60.0) -> None:
        """Wait until brokers ``names`` (default all) are registered and unfenced."""
        want = {node_id_of(n) for n in (names or self.names)}

        def probe() -> bool:
            with self._admin() as admin:
                info = admin.describe_cluster()
            live = {int(b["broker_id"]) for b in info.get("brokers", []) if not b.get("is_fenced")}
            return want <= live

        wait_until(
            f"brokers {sorted(want)} were not all registered",
            timeout_s,
            probe,
            self._logs,
            KafkaError,
        )

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

    def partition_states(self, timeout_s: float = 5.0) -> list[PartitionState]:
        with self._admin(timeout_s) as admin:
            return describe_partitions(admin, self.topic)

    def wait_in_sync(self, timeout_s: float = 60.0) -> None:
        """Wait until every partition has a leader and all its replicas in the ISR."""

        def in_sync(states: list[PartitionState]) -> bool:
            return len(states) == self.partitions and all(
                s.leader is not None
                and len(s.replicas) == self.replication_factor
                and set(s.isr) == set(s.replicas)
                for s in states
            )

        def probe() -> bool:
            # every broker must know it: clients may ask any of them
            with self._admin() as admin:
                return all(
                    in_sync(describe_partitions(admin, self.topic, node_id_of(n)))
                    for n in self.names
                    if self.nodes[n].running()
                )

        wait_until(
            f"topic {self.topic!r} did not get every replica in sync",
            timeout_s,
            probe,
            self._logs,
            KafkaError,
        )

    def wait_leaders(self, timeout_s: float = 30.0) -> dict[int, str]:
        """Wait until every partition has a leader; return partition -> leader."""

        def probe() -> dict[int, str] | None:
            states = self.partition_states()
            if len(states) == self.partitions and all(s.leader for s in states):
                return {s.partition: cast(str, s.leader) for s in states}
            return None

        return wait_until(
            f"some partition of {self.topic!r} had no leader",
            timeout_s,
            probe,
            self._logs,
            KafkaError,
        )

    # -- the surface the orchestrator uses -----------------------------------------------
    def client_endpoints(self) -> list[Endpoint]:
        """Where clients connect: each broker through its ``client->brokerN`` proxy."""
        out = []
        for n in self.names:
            at = self.links[f"client->{n}"].harness
            assert at is not None
            out.append(Endpoint(at.host, at.port, n))
        return out

    def leader_of(self, partition: int = 0) -> str | None:
        """The current leader of ``partition`` (None if it has none or nobody answers)."""
        try:
            for s in self.partition_states():
                if s.partition == partition:
                    return s.leader
        except (KafkaError, OSError, RpochaosError):
            return None
        return None

    def active_controller(self) -> str | None:
        """The KRaft quorum leader (the active controller), or None if unknown."""
        try:
            with self._admin() as admin:
                quorum = admin.describe_metadata_quorum()
            leader = int(quorum["topics"][0]["partitions"][0]["leader_id"])
        except (KafkaError, OSError, RpochaosError, KeyError, IndexError, TypeError):
            return None
        return node_name(leader) if leader >= 0 else None

    @property
    def primary_name(self) -> str:
        """The leader of partition 0 (what a final read's ``node`` names); broker1 if none."""
        return self.leader_of(0) or self.names[0]

    def durability(self) -> dict[str, object]:
        """The durability settings in force, read back from the brokers (broker configs of
        the partition-0 leader, and the topic's effective configs); the producer's acks and
        enable.idempotence belong to the workload."""
        out: dict[str, object] = {}
        try:
            with self._admin() as admin:
                states = describe_partitions(admin, self.topic)
                leader = next((s.leader for s in states if s.leader), self.names[0])
                broker = str(node_id_of(leader))
                got = admin.describe_configs(
                    [
                        ConfigResource(ConfigResourceType.BROKER, broker),
                        ConfigResource(ConfigResourceType.TOPIC, self.topic),
                    ],
                    config_filter="all",
                )
            bcfg = got.get("broker", {}).get(broker, {})
            tcfg = got.get("topic", {}).get(self.topic, {})
            for name in DURABILITY_SETTINGS:
                if name in bcfg:
                    out[name] = bcfg[name].get("value")
            topic_out: dict[str, object] = {}
            for name in (
                "min.insync.replicas",
                "unclean.leader.election.enable",
                "flush.messages",
                "flush.ms",
            ):
                if name in tcfg:
                    topic_out[name] = tcfg[name].get("value")
            out["topic"] = topic_out
            out["replication_factor"] = max((len(s.replicas) for s in states), default=None)
            out["read_from"] = leader
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
            for link in self.links_of(name):
                self.proxy.set_enabled(link, False)

    def recover(self, name: str, timeout_s: float = 60.0) -> None:
        """Undo ``crash``: re-enable the node's links, restart it (log recovery), and wait
        until it is registered and unfenced again."""
        for link in self.links_of(name):
            self.proxy.set_enabled(link, True)
        self.nodes[name].restart()
        self.wait_registered([name], timeout_s=timeout_s)

    # -- the final read ------------------------------------------------------------------
    def _end_offsets(self, leaders: Mapping[int, str], *, log_end: bool) -> dict[int, int]:
        out: dict[int, int] = {}
        with self._admin() as admin:
            by_leader: dict[str, list[int]] = {}
            for p, leader in leaders.items():
                by_leader.setdefault(leader, []).append(p)
            for leader, parts in by_leader.items():
                out.update(
                    list_offsets(admin, node_id_of(leader), self.topic, parts, log_end=log_end)
                )
        return out

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


def read_topic(
    bootstrap: Sequence[str],
    topic: str,
    partitions: Sequence[int],
    *,
    timeout_s: float = 60.0,
    leaders: dict[int, str | None] | None = None,
    hw_below_leo: dict[int, tuple[int, int]] | None = None,
) -> TopicRead:
    """Read ``partitions`` of ``topic`` from offset 0 (or the log start) up to the high
    watermark taken at the start of the read, with a fresh consumer that joins no group."""
    consumer = KafkaConsumer(
        bootstrap_servers=list(bootstrap),
        client_id="rpochaos-final-read",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_uncommitted",
        request_timeout_ms=10000,
        fetch_max_wait_ms=100,
        reconnect_backoff_max_ms=1000,
        metadata_max_age_ms=1000,
    )
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = {tp.partition: int(o) for tp, o in consumer.end_offsets(tps).items()}
        seqs: dict[int, set[int]] = {p: set() for p in partitions}
        records = duplicates = unparsed = 0
        deadline = time.monotonic() + timeout_s
        pending = {tp for tp in tps if ends[tp.partition] > 0}
        while pending:
            if time.monotonic() > deadline:
                where = {
                    tp.partition: (consumer.position(tp), ends[tp.partition]) for tp in pending
                }
                raise TopologyError(
                    f"final read of {topic!r} did not reach the high watermark within "
                    f"{timeout_s:g} s: partition -> (position, end) {where}"
                )
            batch = consumer.poll(timeout_ms=500, max_records=10000)
            for tp, msgs in batch.items():
                for m in msgs:
                    if m.offset >= ends[tp.partition]:
                        continue
                    records += 1
                    seq = decode_seq(m.value)
                    if seq is None:
                        unparsed += 1
                    elif seq in seqs[tp.partition]:
                        duplicates += 1
                    else:
                        seqs[tp.partition].add(seq)
            for tp in list(pending):
                if consumer.position(tp) >= ends[tp.partition]:
                    pending.discard(tp)
    finally:
        with contextlib.suppress(Exception):
            consumer.close()
    return TopicRead(
        topic=topic,
        seqs_by_partition={p: frozenset(s) for p, s in seqs.items()},
        end_offsets=ends,
        leaders=dict(leaders or {}),
        records=records,
        duplicates=duplicates,
        unparsed=unparsed,
        hw_below_leo=dict(hw_below_leo or {}),
    )
