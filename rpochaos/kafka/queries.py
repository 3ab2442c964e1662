"""What can be asked of a running Kafka cluster, and waited for: where clients connect,
whether brokers are registered, who leads each partition and whether its replicas are in
sync, which node is the active controller. Every question goes through the ``client->brokerN``
proxies, as a client's would. ``KafkaCluster`` (``rpochaos.kafka.cluster``) is built on this;
bring-up, faults and the final read are its own."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, cast

from kafka.errors import KafkaError  # type: ignore[import-untyped]

from rpochaos.backends.base import Endpoint, LinkAddress
from rpochaos.errors import RpochaosError
from rpochaos.kafka.metadata import PartitionState, admin_client, describe_partitions
from rpochaos.kafka.names import node_id_of, node_name
from rpochaos.kafka.node import KafkaNode
from rpochaos.waiting import wait_until


class KafkaQueries:
    """The readiness and metadata queries of a cluster of ``n_brokers`` nodes serving one
    ``topic`` of ``partitions`` partitions, each with ``replication_factor`` replicas. The
    subclass sets these attributes; ``nodes`` (name -> node) and ``links`` (link name -> its
    addresses) must hold every node and every ``client->brokerN`` link before a query runs.
    A ``wait_*`` raises TopologyError with the nodes' log tails when its time runs out."""

    n_brokers: int
    topic: str
    partitions: int
    replication_factor: int
    nodes: dict[str, KafkaNode]
    links: dict[str, LinkAddress]

    @property
    def names(self) -> list[str]:
        """``broker1``..``brokerN``."""
        return [node_name(i) for i in range(1, self.n_brokers + 1)]

    def bootstrap(self, *, exclude: Sequence[str] = ()) -> list[str]:
        """``host:port`` of every ``client->brokerN`` proxy (minus ``exclude``)."""
        return [e.address for e in self.client_endpoints() if e.node not in exclude]

    def _logs(self) -> str:
        """The last lines of every node's output: what a timeout shows."""
        return "\n".join(f"[{n.name}]\n{n.log_tail(15)}" for n in self.nodes.values())

    def _admin(self, timeout_s: float = 5.0) -> contextlib.AbstractContextManager[Any]:
        """An admin client bootstrapped through the client proxies (``admin_client``)."""
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

    def partition_states(self, timeout_s: float = 5.0) -> list[PartitionState]:
        """Leader, replicas and ISR of every partition of the topic, as any broker sees it."""
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
