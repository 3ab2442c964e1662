"""What differs between the systems under test, behind one small interface.

The runner (run.py) knows the order of a run; a ``System`` knows, for PostgreSQL or Kafka,
which programs must be present, how to bring up its cluster, which writer and observer to
run, how to read back what survived, and how a symbolic target (``leader``, a link group)
maps onto real nodes and links at the moment a step runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rpochaos import deps
from rpochaos.backends.base import Backend
from rpochaos.clock import Clock
from rpochaos.errors import TopologyError
from rpochaos.history import Journal
from rpochaos.proxy import Toxiproxy
from rpochaos.scenario import Scenario


@dataclass
class FinalData:
    node: str
    seqs: frozenset[int]
    extra: dict[str, Any] = field(default_factory=dict)


class System(ABC):
    name: str

    def __init__(self, scenario: Scenario) -> None:
        self.sc = scenario

    @abstractmethod
    def check(self) -> None:
        """Raise MissingDependency for anything this system needs that is not installed."""

    @abstractmethod
    def cluster(
        self,
        backend: Backend,
        proxy: Toxiproxy,
        data_root: Path | None,
        node_env: dict[str, dict[str, str]],
    ) -> Any:
        """A cluster object, not started yet. ``data_root`` is None where the backend keeps
        data itself (docker volumes)."""

    @abstractmethod
    def writer(self, cluster: Any, journal: Journal, clock: Clock) -> Any: ...

    @abstractmethod
    def observer(self, cluster: Any, clock: Clock, run_dir: Path, rate_hz: float) -> Any: ...

    @abstractmethod
    def final_read(self, cluster: Any) -> FinalData: ...

    def versions(self, cluster: Any) -> dict[str, str]:
        return {self.name: str(cluster.version()), "toxiproxy": deps.TOXIPROXY_VERSION}

    def durability(self, cluster: Any) -> dict[str, object]:
        return dict(cluster.durability())

    def node(self, cluster: Any, name: str) -> str:
        """The real node a step's node target means now."""
        return name

    def links(self, cluster: Any, target: str) -> list[str]:
        """The real links a step's link target means now."""
        return [target]


class PostgresSystem(System):
    name = "postgres"

    def check(self) -> None:
        deps.pg_bindir()
        deps.toxiproxy_server()
        deps.db_user()

    def cluster(
        self,
        backend: Backend,
        proxy: Toxiproxy,
        data_root: Path | None,
        node_env: dict[str, dict[str, str]],
    ) -> Any:
        from rpochaos.scenario import Topology
        from rpochaos.topology.postgres import PostgresCluster

        assert isinstance(self.sc.topology, Topology)
        c = PostgresCluster(self.sc.topology, backend, proxy, data_root)
        if node_env:
            c.node_env = node_env
        return c

    def writer(self, cluster: Any, journal: Journal, clock: Clock) -> Any:
        from rpochaos.workload.postgres import PostgresWriter

        return PostgresWriter(cluster.client_endpoints(), self.sc.workload, journal, clock)

    def observer(self, cluster: Any, clock: Clock, run_dir: Path, rate_hz: float) -> Any:
        from rpochaos.observe.postgres import OBSERVATIONS, PostgresObserver

        return PostgresObserver(cluster, clock, run_dir / OBSERVATIONS, rate_hz)

    def final_read(self, cluster: Any) -> FinalData:
        node = cluster.primary_name
        return FinalData(node, cluster.read_seqs(node))


class KafkaSystem(System):
    name = "kafka"

    def check(self) -> None:
        from rpochaos.kafka import jars

        jars.java_bin()
        jars.kafka_classpath()
        deps.toxiproxy_server()

    def cluster(
        self,
        backend: Backend,
        proxy: Toxiproxy,
        data_root: Path | None,
        node_env: dict[str, dict[str, str]],
    ) -> Any:
        from rpochaos.kafka.cluster import KafkaCluster

        t: Any = self.sc.topology
        return KafkaCluster(
            t.brokers,
            t.replication_factor,
            t.min_insync_replicas,
            t.unclean_leader_election,
            backend,
            proxy,
            data_root,
            topic=t.topic,
            partitions=t.partitions,
            settings=t.settings,
            node_env=node_env,
        )

    def writer(self, cluster: Any, journal: Journal, clock: Clock) -> Any:
        from rpochaos.kafka.workload import KafkaWriter

        w: Any = self.sc.workload
        extra: dict[str, Any] = {}
        if w.commit_timeout is not None:
            extra["delivery_timeout_s"] = w.commit_timeout
        return KafkaWriter(
            cluster.client_endpoints(),
            w,
            journal,
            clock,
            acks=w.producer_acks,
            enable_idempotence=bool(w.enable_idempotence),
            topic=cluster.topic,
            partitions=cluster.partitions,
            **extra,
        )

    def observer(self, cluster: Any, clock: Clock, run_dir: Path, rate_hz: float) -> Any:
        from rpochaos.kafka.observe import KafkaObserver

        return KafkaObserver(
            cluster.client_endpoints(),
            cluster.topic,
            run_dir / "kafka_observations.jsonl",
            clock,
            interval_s=max(0.1, 1.0 / rate_hz),
        )

    def final_read(self, cluster: Any) -> FinalData:
        r = cluster.read_topic()
        leader = r.leaders.get(0) or cluster.primary_name
        extra = {
            "seqs_by_partition": {str(p): len(s) for p, s in r.seqs_by_partition.items()},
            "end_offsets": {str(p): o for p, o in r.end_offsets.items()},
            "leaders": {str(p): n for p, n in r.leaders.items()},
            "records": r.records,
            "duplicates": r.duplicates,
            "unparsed": r.unparsed,
        }
        return FinalData(str(leader), r.seqs, extra)

    def durability(self, cluster: Any) -> dict[str, object]:
        w: Any = self.sc.workload
        return {**cluster.durability(), "acks": w.acks, "enable.idempotence": w.enable_idempotence}

    def node(self, cluster: Any, name: str) -> str:
        if name != "leader":
            return name
        leader = cluster.leader_of(0)
        if leader is None:
            raise TopologyError("partition 0 has no leader right now, so 'leader' means nothing")
        return str(leader)

    def links(self, cluster: Any, target: str) -> list[str]:
        if ":" not in target:
            return [target]
        group, node = target.split(":", 1)
        node = self.node(cluster, node)
        if group == "fetch-from":
            return list(cluster.fetch_links_of(node))
        if group == "quorum-of":
            return list(cluster.quorum_links_of(node))
        if group == "all-of":
            return list(cluster.links_of(node))
        raise TopologyError(f"unknown link group {group!r} in {target!r}")


def for_scenario(scenario: Scenario) -> System:
    return KafkaSystem(scenario) if scenario.system == "kafka" else PostgresSystem(scenario)
