"""What differs between the systems under test, behind one small interface.

The runner (run.py) knows the order of a run; a ``System`` knows, for PostgreSQL or Kafka,
which programs must be present, how to bring up its cluster, which writer and observer to
run, how to read back what survived, and how a symbolic target (``leader``, a link group)
maps onto real nodes and links at the moment a step runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from rpochaos import deps
from rpochaos.backends.base import Backend
from rpochaos.clock import Clock
from rpochaos.errors import Problem, ScenarioError, TopologyError
from rpochaos.faults.shim import SHIM_ACTIONS
from rpochaos.history import Journal
from rpochaos.proxy import Toxiproxy
from rpochaos.roles import Cluster, FinalData, Observer, Writer
from rpochaos.scenario import KafkaTopology, Scenario, Topology

if TYPE_CHECKING:
    from rpochaos.kafka.cluster import KafkaCluster
    from rpochaos.mariadb.cluster import MariaDBCluster
    from rpochaos.mariadb.observe import MariaDBObserver
    from rpochaos.observe.postgres import PostgresObserver
    from rpochaos.patroni.docker_topology import DockerPatroniTopology
    from rpochaos.patroni.topology import PatroniTopology
    from rpochaos.roles import (
        ArchiveFailing,
        Kept,
        LatestSample,
        LeaderLookup,
        LinkGroups,
        PositionPromoting,
        ProcessPids,
        Promoting,
        Restoring,
    )
    from rpochaos.topology.postgres import PostgresCluster

    # mypy checks that each system's parts have the optional powers the runner finds on them
    def _postgres_powers(
        c: PostgresCluster, o: PostgresObserver
    ) -> tuple[Promoting, Restoring, ArchiveFailing, ProcessPids, Kept, LatestSample]:
        return c, c, c, c, c, o

    def _kafka_powers(c: KafkaCluster) -> tuple[LeaderLookup, LinkGroups]:
        return c, c

    def _mariadb_powers(
        c: MariaDBCluster, o: MariaDBObserver
    ) -> tuple[PositionPromoting, ProcessPids, Kept, LatestSample]:
        return c, c, c, o


__all__ = [
    "ClusterParts",
    "FinalData",
    "KafkaSystem",
    "MariaDBSystem",
    "PatroniSystem",
    "PostgresSystem",
    "System",
    "for_scenario",
]


@dataclass(frozen=True)
class ClusterParts:
    """What the runner hands a system to build its cluster from: the backend that runs the
    nodes, the Toxiproxy server the links go through, the data folder (None where the
    backend keeps data itself, docker volumes) and extra environment per node name (the
    fault shim's)."""

    backend: Backend
    proxy: Toxiproxy
    data_root: Path | None
    node_env: dict[str, dict[str, str]]


_C = TypeVar("_C")


def _own_cluster(cluster: Cluster, kind: type[_C], system: str) -> _C:
    """``cluster`` as the ``kind`` the ``system`` built: every System method is handed back the
    cluster its ``cluster`` returned, so anything else is a programming error (an assert)."""
    assert isinstance(cluster, kind), f"a {system} system drives its own cluster"
    return cluster


class System(ABC):
    """One system under test: how its roles are made, and what its targets mean.

    Every method that takes a cluster takes the one ``cluster`` returned; a system may
    rely on that (and check it)."""

    name: str

    def __init__(self, scenario: Scenario) -> None:
        self.sc = scenario

    @abstractmethod
    def check(self) -> None:
        """Raise MissingDependency for anything this system needs that is not installed."""

    def preflight(self, backend: str) -> None:
        """Fail fast, before anything is created: ScenarioError for what this system cannot
        do on ``backend``; MissingDependency for a program (local) or an engine (docker)
        that is not there."""
        if backend == "local":
            self.check()
        else:
            from rpochaos.backends import engine

            engine.client().close()

    def cluster(
        self,
        backend: Backend,
        proxy: Toxiproxy,
        data_root: Path | None,
        node_env: dict[str, dict[str, str]],
    ) -> Cluster:
        """A cluster object, not started yet. ``data_root`` is None where the backend keeps
        data itself (docker volumes)."""
        return self.build(ClusterParts(backend, proxy, data_root, node_env))

    @abstractmethod
    def build(self, parts: ClusterParts) -> Cluster:
        """The cluster ``cluster`` returns, made from ``parts``; not started yet."""

    @abstractmethod
    def writer(self, cluster: Cluster, journal: Journal, clock: Clock) -> Writer:
        """The scenario's workload against the started ``cluster``, not started yet."""

    @abstractmethod
    def observer(self, cluster: Cluster, clock: Clock, run_dir: Path, rate_hz: float) -> Observer:
        """An observer sampling ``rate_hz`` times a second into ``run_dir``, not started."""

    @abstractmethod
    def final_read(self, cluster: Cluster) -> FinalData:
        """Every sequence number present after recovery."""

    def refusal(self, key: str, given: str, expected: str) -> ScenarioError:
        """The one-problem ScenarioError ``preflight`` raises for what this system cannot do:
        the scenario's file (``<scenario>`` when it has none), no line, ``key``, what was
        ``given`` and what is ``expected``."""
        return ScenarioError(
            [Problem(str(self.sc.path or "<scenario>"), None, key, given, expected)]
        )

    def versions(self, cluster: Cluster) -> dict[str, str]:
        return {self.name: str(cluster.version()), "toxiproxy": deps.TOXIPROXY_VERSION}

    def durability(self, cluster: Cluster) -> dict[str, object]:
        return dict(cluster.durability())

    def node(self, cluster: Cluster, name: str) -> str:
        """The real node a step's node target means now."""
        return name

    def links(self, cluster: Cluster, target: str) -> list[str]:
        """The real links a step's link target means now."""
        return [target]


def _postgres(cluster: Cluster) -> PostgresCluster:
    from rpochaos.topology.postgres import PostgresCluster

    return _own_cluster(cluster, PostgresCluster, "PostgreSQL")


def _kafka(cluster: Cluster) -> KafkaCluster:
    from rpochaos.kafka.cluster import KafkaCluster

    return _own_cluster(cluster, KafkaCluster, "Kafka")


def _postgres_needs() -> None:
    """MissingDependency unless PostgreSQL's programs, the Toxiproxy server and (as root) the
    unprivileged user PostgreSQL runs as are there: what every PostgreSQL system needs."""
    deps.pg_bindir()
    deps.toxiproxy_server()
    deps.db_user()


class PostgresSystem(System):
    name = "postgres"

    def check(self) -> None:
        _postgres_needs()

    def build(self, parts: ClusterParts) -> PostgresCluster:
        from rpochaos.topology.postgres import PostgresCluster

        assert isinstance(self.sc.topology, Topology)
        c = PostgresCluster(self.sc.topology, parts.backend, parts.proxy, parts.data_root)
        if parts.node_env:
            c.node_env = parts.node_env
        return c

    def writer(self, cluster: Cluster, journal: Journal, clock: Clock) -> Writer:
        from rpochaos.workload.postgres import PostgresWriter

        return PostgresWriter(
            _postgres(cluster).client_endpoints(), self.sc.workload, journal, clock
        )

    def observer(self, cluster: Cluster, clock: Clock, run_dir: Path, rate_hz: float) -> Observer:
        from rpochaos.observe.postgres import OBSERVATIONS, PostgresObserver

        return PostgresObserver(_postgres(cluster), clock, run_dir / OBSERVATIONS, rate_hz)

    def final_read(self, cluster: Cluster) -> FinalData:
        pg = _postgres(cluster)
        node = pg.primary_name
        return FinalData(node, pg.read_seqs(node))


class KafkaSystem(System):
    name = "kafka"

    def check(self) -> None:
        from rpochaos.kafka import jars

        jars.java_bin()
        jars.kafka_classpath()
        deps.toxiproxy_server()

    def preflight(self, backend: str) -> None:
        shimmed = sorted({s.action for s in self.sc.schedule if s.action in SHIM_ACTIONS})
        if shimmed and backend != "local":
            raise self.refusal(
                "schedule",
                ", ".join(shimmed),
                f"no io_stall or clock_skew on Kafka brokers with --backend {backend}: "
                "they need the local backend (the official apache/kafka image is "
                "musl-based, where the glibc fault shim cannot load)",
            )
        super().preflight(backend)

    def build(self, parts: ClusterParts) -> KafkaCluster:
        from rpochaos.kafka.cluster import KafkaCluster

        t = self.sc.topology
        assert isinstance(t, KafkaTopology)
        return KafkaCluster(
            t.brokers,
            t.replication_factor,
            t.min_insync_replicas,
            t.unclean_leader_election,
            parts.backend,
            parts.proxy,
            parts.data_root,
            topic=t.topic,
            partitions=t.partitions,
            settings=t.settings,
            node_env=parts.node_env,
        )

    def writer(self, cluster: Cluster, journal: Journal, clock: Clock) -> Writer:
        from rpochaos.kafka.workload import DELIVERY_TIMEOUT_S, KafkaWriter

        kc = _kafka(cluster)
        w = self.sc.workload
        acks = w.producer_acks
        assert acks is not None, "validated for Kafka"
        return KafkaWriter(
            kc.client_endpoints(),
            w,
            journal,
            clock,
            acks=acks,
            enable_idempotence=bool(w.enable_idempotence),
            topic=kc.topic,
            partitions=kc.partitions,
            delivery_timeout_s=(
                w.commit_timeout if w.commit_timeout is not None else DELIVERY_TIMEOUT_S
            ),
        )

    def observer(self, cluster: Cluster, clock: Clock, run_dir: Path, rate_hz: float) -> Observer:
        from rpochaos.kafka.observe import KafkaObserver

        kc = _kafka(cluster)
        return KafkaObserver(
            kc.client_endpoints(),
            kc.topic,
            run_dir / "kafka_observations.jsonl",
            clock,
            interval_s=max(0.1, 1.0 / rate_hz),
        )

    def final_read(self, cluster: Cluster) -> FinalData:
        kc = _kafka(cluster)
        r = kc.read_topic()
        leader = r.leaders.get(0) or kc.primary_name
        extra: dict[str, object] = {
            "seqs_by_partition": {str(p): len(s) for p, s in r.seqs_by_partition.items()},
            "end_offsets": {str(p): o for p, o in r.end_offsets.items()},
            "leaders": {str(p): n for p, n in r.leaders.items()},
            "records": r.records,
            "duplicates": r.duplicates,
            "unparsed": r.unparsed,
        }
        return FinalData(str(leader), r.seqs, extra)

    def durability(self, cluster: Cluster) -> dict[str, object]:
        w = self.sc.workload
        return {**cluster.durability(), "acks": w.acks, "enable.idempotence": w.enable_idempotence}

    def node(self, cluster: Cluster, name: str) -> str:
        if name != "leader":
            return name
        leader = _kafka(cluster).leader_of(0)
        if leader is None:
            raise TopologyError("partition 0 has no leader right now, so 'leader' means nothing")
        return str(leader)

    def links(self, cluster: Cluster, target: str) -> list[str]:
        if ":" not in target:
            return [target]
        group, node = target.split(":", 1)
        node = self.node(cluster, node)
        kc = _kafka(cluster)
        if group == "fetch-from":
            return list(kc.fetch_links_of(node))
        if group == "quorum-of":
            return list(kc.quorum_links_of(node))
        if group == "all-of":
            return list(kc.links_of(node))
        raise TopologyError(f"unknown link group {group!r} in {target!r}")


def _patroni(cluster: Cluster) -> PatroniTopology | DockerPatroniTopology:
    from rpochaos.patroni.docker_topology import DockerPatroniTopology
    from rpochaos.patroni.topology import PatroniTopology

    assert isinstance(cluster, PatroniTopology | DockerPatroniTopology), "a Patroni system"
    return cluster


class PatroniSystem(System):
    """PostgreSQL managed by Patroni (``topology.manager: patroni``): Patroni fails over, the
    observer records each change of leader, the final read reads the leader."""

    name = "postgres"

    def check(self) -> None:
        from rpochaos.patroni import deps as patroni_deps

        _postgres_needs()
        patroni_deps.patroni()
        patroni_deps.etcd()

    def preflight(self, backend: str) -> None:
        if backend not in ("local", "docker"):
            raise self.refusal(
                "topology.manager",
                f"patroni with --backend {backend}",
                "the local or the docker backend",
            )
        super().preflight(backend)

    def build(self, parts: ClusterParts) -> PatroniTopology | DockerPatroniTopology:
        from rpochaos.backends.docker import DockerBackend
        from rpochaos.patroni.docker_topology import DockerPatroniTopology
        from rpochaos.patroni.topology import PatroniTopology

        assert isinstance(self.sc.topology, Topology)
        if isinstance(parts.backend, DockerBackend):
            return DockerPatroniTopology(self.sc.topology, parts.backend, parts.proxy)
        return PatroniTopology(self.sc.topology, parts.backend, parts.proxy)

    def writer(self, cluster: Cluster, journal: Journal, clock: Clock) -> Writer:
        from rpochaos.workload.postgres import PostgresWriter

        return PostgresWriter(
            _patroni(cluster).client_endpoints(), self.sc.workload, journal, clock
        )

    def observer(self, cluster: Cluster, clock: Clock, run_dir: Path, rate_hz: float) -> Observer:
        from rpochaos.patroni.watch import LEADERSHIP, LeaderWatch

        pc = _patroni(cluster)
        return LeaderWatch(
            pc.view, pc.logs, clock, run_dir / LEADERSHIP, interval_s=1.0 / rate_hz, leads=pc.leads
        )

    def final_read(self, cluster: Cluster) -> FinalData:
        node, seqs = _patroni(cluster).read_final()
        return FinalData(node, seqs)

    def versions(self, cluster: Cluster) -> dict[str, str]:
        pc = _patroni(cluster)
        return {**super().versions(cluster), "patroni": pc.patroni_version()}

    def links(self, cluster: Cluster, target: str) -> list[str]:
        return _patroni(cluster).link_proxies(target)


def _mariadb(cluster: Cluster) -> MariaDBCluster:
    from rpochaos.mariadb.cluster import MariaDBCluster

    return _own_cluster(cluster, MariaDBCluster, "MariaDB")


class MariaDBSystem(System):
    """A MariaDB primary and replicas (semi-sync or not), failed over by rpochaos itself:
    ``promote`` moves semi-sync and the writer's link to the chosen replica. Local or docker
    backend (``kubernetes`` is refused before anything starts). The observer samples every
    50 ms at least (the semi-sync switch-off time is the first sample that sees it OFF), and
    ``durability`` is the declared settings, the values the primary reports, and the
    failover record (promotions; rejoins, with error 1236 when the old primary cannot
    follow)."""

    name = "mariadb"

    def check(self) -> None:
        from rpochaos.mariadb import deps as mariadb_deps

        mariadb_deps.check()
        deps.toxiproxy_server()

    def preflight(self, backend: str) -> None:
        if backend not in ("local", "docker"):
            raise self.refusal("backend", backend, "local or docker for system: mariadb")
        super().preflight(backend)

    def build(self, parts: ClusterParts) -> MariaDBCluster:
        from rpochaos.mariadb.cluster import MariaDBCluster
        from rpochaos.mariadb.settings import settings_from_mapping
        from rpochaos.scenario import MariaDBTopology

        t = self.sc.topology
        assert isinstance(t, MariaDBTopology)
        settings = settings_from_mapping(
            t.settings(), file=str(self.sc.path or "<scenario>"), path="topology"
        )
        return MariaDBCluster(
            settings, parts.backend, parts.proxy, parts.data_root, node_env=parts.node_env
        )

    def writer(self, cluster: Cluster, journal: Journal, clock: Clock) -> Writer:
        from rpochaos.mariadb.workload import MariaDBWriter

        c = _mariadb(cluster)
        return MariaDBWriter(
            c.client_endpoint(),
            c.by_server_id,
            c.credentials.writer,
            self.sc.workload,
            journal,
            clock,
        )

    def observer(self, cluster: Cluster, clock: Clock, run_dir: Path, rate_hz: float) -> Observer:
        from rpochaos.mariadb.observe import OBSERVATIONS, MariaDBObserver

        interval = min(0.05, 1.0 / rate_hz)
        return MariaDBObserver(_mariadb(cluster), clock, run_dir / OBSERVATIONS, interval)

    def final_read(self, cluster: Cluster) -> FinalData:
        c = _mariadb(cluster)
        d = c.durability()
        extra: dict[str, object] = {
            "promotions": d.get("promotions", []),
            "rejoins": d.get("rejoins", []),
        }
        return FinalData(c.primary_name, c.read_seqs(), extra)

    def durability(self, cluster: Cluster) -> dict[str, object]:
        """The six settings as the primary reports them (``SELECT @@...``), and
        ``replicas``: each replica's mode (semi_sync or async)."""
        d = _mariadb(cluster).durability()
        server = d.get("server")
        out: dict[str, object] = dict(server) if isinstance(server, dict) else {}
        semi = self.sc.topology
        from rpochaos.scenario import MariaDBTopology

        assert isinstance(semi, MariaDBTopology)
        out["replicas"] = {r.name: "semi_sync" if r.semi_sync else "async" for r in semi.replicas}
        return out


def for_scenario(scenario: Scenario) -> System:
    if scenario.system == "kafka":
        return KafkaSystem(scenario)
    if scenario.system == "mariadb":
        return MariaDBSystem(scenario)
    t = scenario.topology
    if isinstance(t, Topology) and t.manager == "patroni":
        return PatroniSystem(scenario)
    return PostgresSystem(scenario)
